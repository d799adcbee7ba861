import Core
import Foundation
import Synchronization

/// Which identity each agent's uid is bound to: the fingerprint of the client certificate that
/// first spoke for it. Checked on a loop thread (a dictionary lookup under a mutex, once per
/// connection); a new binding is written to the database off the loop, in order.
final class Identities: Sendable {
    private let bound: Mutex<[InstanceUID: String]>
    private let store: any FleetStore
    private let writes = DispatchQueue(label: "fleet-identities")
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> Int64

    init(
        store: any FleetStore, rows: [IdentityRow], log: @escaping @Sendable (String) -> Void,
        clock: @escaping @Sendable () -> Int64
    ) {
        var map: [InstanceUID: String] = [:]
        for row in rows {
            if let uid = InstanceUID(string: row.uid) { map[uid] = row.identity }
        }
        bound = Mutex(map)
        self.store = store
        self.log = log
        self.clock = clock
    }

    /// Binds `uid` to `identity` if it has none; false when it is bound to another.
    func bind(_ uid: InstanceUID, identity: String) -> Bool {
        let outcome: Bool? = bound.withLock { map in
            if let existing = map[uid] { return existing == identity ? false : nil }
            map[uid] = identity
            return true
        }
        guard let isNew = outcome else { return false }
        if isNew {
            let row = IdentityRow(uid: uid.description, identity: identity, boundAt: clock())
            writes.async { [store, log] in
                do {
                    try store.saveIdentity(row)
                } catch {
                    log("fleet: the binding of \(row.uid) to \(row.identity) was not saved: \(error)")
                }
            }
        }
        return true
    }

    /// Binds `uid` to `identity` in place of its binding (a certificate this server issued it).
    func rebind(_ uid: InstanceUID, identity: String) {
        bound.withLock { $0[uid] = identity }
        let row = IdentityRow(uid: uid.description, identity: identity, boundAt: clock())
        writes.async { [store, log] in
            do {
                try store.rebindIdentity(row)
            } catch {
                log("fleet: the binding of \(row.uid) to \(row.identity) was not saved: \(error)")
            }
        }
    }

    /// Forgets the binding of `uid`, in memory and (synchronously, for the operator's answer)
    /// in the database; false when it had none.
    func unbind(_ uid: InstanceUID) throws(StoreError) -> Bool {
        writes.sync {}
        guard bound.withLock({ $0[uid] }) != nil else { return false }
        try store.deleteIdentity(uid: uid.description)
        bound.withLock { $0[uid] = nil }
        return true
    }

    /// The identity `uid` is bound to, if any.
    func identity(of uid: InstanceUID) -> String? {
        bound.withLock { $0[uid] }
    }

    /// Waits for the bindings queued so far to be written (shutdown, tests).
    func flush() {
        writes.sync {}
    }
}
