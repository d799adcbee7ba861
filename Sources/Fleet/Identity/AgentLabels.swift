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
    /// Told the agents whose labels were written, a batch at a time (other instances then read
    /// them: they select and assign by labels too).
    private let written = Mutex<(@Sendable ([InstanceUID]) -> Void)?>(nil)
    /// Agents written since the last batch was told.
    private let unannounced = Mutex<[InstanceUID]>([])

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
        writes.async { [self] in
            do {
                try store.saveLabels(uid: uid.description, labels: merged)
            } catch {
                log("fleet: the labels of \(uid) were not saved: \(error)")
                return
            }
            // Enrollments come in bursts: one announcement per 100 ms, not one per agent.
            let first = unannounced.withLock { uids in
                uids.append(uid)
                return uids.count == 1
            }
            guard first else { return }
            writes.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
                let batch = unannounced.withLock { uids in
                    defer { uids = [] }
                    return uids
                }
                written.withLock { $0 }?(batch)
            }
        }
    }

    /// Sets what is told of the agents whose labels were written.
    func onWritten(_ handler: @escaping @Sendable ([InstanceUID]) -> Void) {
        written.withLock { $0 = handler }
    }

    /// Reads the labels of `uids` again (another instance gave them some).
    func reload(_ uids: [InstanceUID]) throws(StoreError) {
        let rows = try store.loadLabels(uids: uids.map(\.description))
        labels.withLock { map in
            for uid in uids { map[uid] = rows[uid.description] }
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
