import Core
import Foundation
import Synchronization

/// Server-side labels of agents, given by the enrollment token they registered with: the
/// agent cannot change them (unlike its description's attributes). Selectors name a label as
/// `label:KEY`. Set on a loop thread when an agent enrolls (a dictionary write under a mutex),
/// written to the database off the loop.
final class AgentLabels: Sendable {
    /// The selector key prefix that names a label rather than an attribute.
    static let selectorPrefix = "label:"

    private let labels: Mutex<[InstanceUID: [String: String]]>
    private let store: any FleetStore
    private let writes = DispatchQueue(label: "fleet-labels")
    private let log: @Sendable (String) -> Void

    init(store: any FleetStore, rows: [String: [String: String]], log: @escaping @Sendable (String) -> Void) {
        var map: [InstanceUID: [String: String]] = [:]
        for (text, labels) in rows {
            if let uid = InstanceUID(string: text) { map[uid] = labels }
        }
        self.labels = Mutex(map)
        self.store = store
        self.log = log
    }

    /// Gives `uid` these labels (added to any it has; a key given again takes the new value).
    func add(_ new: [String: String], to uid: InstanceUID) {
        guard !new.isEmpty else { return }
        let merged = labels.withLock { map in
            map[uid, default: [:]].merge(new) { _, fresh in fresh }
            return map[uid] ?? [:]
        }
        writes.async { [store, log] in
            do {
                try store.saveLabels(uid: uid.description, labels: merged)
            } catch {
                log("fleet: the labels of \(uid) were not saved: \(error)")
            }
        }
    }

    /// The labels of `uid`.
    func of(_ uid: InstanceUID) -> [String: String] {
        labels.withLock { $0[uid] ?? [:] }
    }

    /// The labels of `uid` as selector pairs (`label:KEY`), to match with its attributes.
    func selectorPairs(_ uid: InstanceUID) -> [(key: String, value: String)] {
        of(uid).map { (Self.selectorPrefix + $0.key, $0.value) }
    }

    /// Waits for the labels queued so far to be written.
    func flush() {
        writes.sync {}
    }
}
