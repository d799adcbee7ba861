import Core
import Foundation
import Synchronization

/// Which identity each agent's uid is bound to: the fingerprint of the client certificate that
/// first spoke for it. Checked on a loop thread (a dictionary lookup under a mutex, once per
/// connection); a new binding is written to the database off the loop, in order.
///
/// With several instances on one database, the database decides: another instance may have bound
/// the uid first, unseen by this one's memory. The write then finds that binding, adopts it and
/// reports the conflict, so that the connection this instance let in is closed (within the
/// write's round trip) and its next message is refused.
final class Identities: Sendable {
    private let bound: Mutex<[InstanceUID: String]>
    /// Told `(uid, stored identity)` when another instance had bound `uid` to another identity.
    private let conflicts = Mutex<(@Sendable (InstanceUID, String) -> Void)?>(nil)
    /// Told the uid whose binding was replaced (other instances then read it again).
    private let rebound = Mutex<(@Sendable (InstanceUID) -> Void)?>(nil)
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
            writes.async { [self] in
                do {
                    try store.saveIdentity(row)
                    // The first binding stays: read which one that is.
                    guard let stored = try store.loadIdentity(uid: row.uid), stored != identity else { return }
                    let replaced = bound.withLock { map in
                        guard map[uid] == identity else { return false }
                        map[uid] = stored
                        return true
                    }
                    guard replaced else { return }
                    log("fleet: \(row.uid) is bound to another identity by another instance; \(row.identity) refused")
                    conflicts.withLock { $0 }?(uid, stored)
                } catch {
                    log("fleet: the binding of \(row.uid) to \(row.identity) was not saved: \(error)")
                }
            }
        }
        return true
    }

    /// Sets what is told of a binding another instance made first (see the type's doc).
    func onConflict(_ handler: @escaping @Sendable (InstanceUID, String) -> Void) {
        conflicts.withLock { $0 = handler }
    }

    /// Sets what is told when a binding was replaced and written.
    func onRebound(_ handler: @escaping @Sendable (InstanceUID) -> Void) {
        rebound.withLock { $0 = handler }
    }

    /// The identity `uid` is bound to as the database has it, for an operator's action: another
    /// instance may have bound it since this one last looked (memory is taken when the database
    /// has nothing, as a write of it may have failed).
    func stored(_ uid: InstanceUID) throws(StoreError) -> String? {
        writes.sync {}
        guard let stored = try store.loadIdentity(uid: uid.description) else { return identity(of: uid) }
        bound.withLock { $0[uid] = stored }
        return stored
    }

    /// Reads the bindings of `uids` again from the database (another instance changed them).
    func reload(_ uids: [InstanceUID]) {
        writes.sync {}
        for uid in uids {
            do {
                let stored = try store.loadIdentity(uid: uid.description)
                bound.withLock { $0[uid] = stored }
            } catch {
                log("fleet: the binding of \(uid) was not read again: \(error)")
            }
        }
    }

    /// Binds `uid` to `identity` in place of its binding (a certificate this server issued it).
    func rebind(_ uid: InstanceUID, identity: String) {
        bound.withLock { $0[uid] = identity }
        let row = IdentityRow(uid: uid.description, identity: identity, boundAt: clock())
        writes.async { [self] in
            do {
                try store.rebindIdentity(row)
                rebound.withLock { $0 }?(uid)
            } catch {
                log("fleet: the binding of \(row.uid) to \(row.identity) was not saved: \(error)")
            }
        }
    }

    /// Forgets the binding of `uid`, in memory and (synchronously, for the operator's answer)
    /// in the database; false when it had none.
    func unbind(_ uid: InstanceUID) throws(StoreError) -> Bool {
        guard try stored(uid) != nil else { return false }
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
