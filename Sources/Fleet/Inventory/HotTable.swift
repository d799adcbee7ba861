import Core
import Synchronization

/// What the event loops ask about an agent on every message: the status parts the fleet holds
/// and the desired config. Split into stripes, each behind its own lock, so two loops asking
/// about different agents almost never meet, and no lock is shared by every message.
final class HotTable: Sendable {
    /// One agent's loop-facing seed.
    struct Entry {
        // A seed's parts, not a `SessionSeed` (a million entries need no sequence number), with
        // the two small fields last, where they share one word.
        var runningConfig: UInt64 = 0
        var config: SharedRemoteConfig?
        /// Connection settings for this agent alone (its client certificate); nil: everyone's.
        var settings: SharedConnectionSettings?
        var held: StatusParts = []
        /// Admitted by `register` but not in the inventory yet: its first message still decides
        /// its config (by the description it sends), as for an agent never seen.
        var reserved = false

        /// Takes what a new session of this agent starts from.
        mutating func seed(_ seed: SessionSeed) {
            held = seed.held
            runningConfig = seed.runningConfig
        }
    }

    private struct Stripe {
        var entries: [InstanceUID: Entry] = [:]
        /// Agents `register` admitted whose first message has not reached the inventory yet,
        /// with when: one that never arrives gives its room back.
        var reservations: [InstanceUID: Int64] = [:]
    }

    private final class StripeBox: Sendable {
        let state = Mutex(Stripe())
    }

    private static let stripeBits = 6
    private let stripes: [StripeBox] = (0..<(1 << HotTable.stripeBits)).map { _ in StripeBox() }
    /// Entries over all stripes: `register` bounds the inventory without visiting every stripe.
    private let population = Atomic<Int>(0)

    private func stripe(_ uid: InstanceUID) -> StripeBox {
        // Multiplicative hashing spreads uids that differ only in a few bits (time-ordered UUIDs).
        let mixed = (uid.high ^ uid.low) &* 0x9E37_79B9_7F4A_7C15
        return stripes[Int(truncatingIfNeeded: mixed >> UInt64(64 - Self.stripeBits))]
    }

    /// The number of agents held or reserved.
    var count: Int { population.load(ordering: .relaxed) }

    /// The desired config of `uid`.
    func config(for uid: InstanceUID) -> SharedRemoteConfig? {
        stripe(uid).state.withLock { $0.entries[uid]?.config }
    }

    /// The entry of `uid`, if any.
    func entry(for uid: InstanceUID) -> Entry? {
        stripe(uid).state.withLock { $0.entries[uid] }
    }

    /// What a new session of `uid` starts from (no parts when unknown).
    func seed(for uid: InstanceUID) -> SessionSeed {
        stripe(uid).state.withLock { s in
            s.entries[uid].map { SessionSeed(held: $0.held, runningConfig: $0.runningConfig) } ?? SessionSeed(held: [])
        }
    }

    /// True when `uid` is held or reserved.
    func contains(_ uid: InstanceUID) -> Bool {
        stripe(uid).state.withLock { $0.entries[uid] != nil }
    }

    /// Reserves room for a new agent at `now`; false when `limit` agents are held already.
    func reserve(_ uid: InstanceUID, now: Int64, limit: Int) -> Bool {
        stripe(uid).state.withLock { s in
            if s.entries[uid] != nil { return true }
            // Counted first, so two loops reserving together cannot both take the last place.
            guard population.add(1, ordering: .relaxed).newValue <= limit else {
                population.subtract(1, ordering: .relaxed)
                return false
            }
            s.entries[uid] = Entry(reserved: true)
            s.reservations[uid] = now
            return true
        }
    }

    /// Changes the entry of `uid`, creating it when missing.
    func update(_ uid: InstanceUID, _ body: (inout Entry) -> Void) {
        stripe(uid).state.withLock { s in
            if s.entries[uid] == nil { population.add(1, ordering: .relaxed) }
            body(&s.entries[uid, default: Entry()])
        }
    }

    /// The agent reached the inventory: its reservation is settled.
    func admit(_ uid: InstanceUID) {
        stripe(uid).state.withLock { s in
            if s.entries[uid] == nil { population.add(1, ordering: .relaxed) }
            s.entries[uid, default: Entry()].reserved = false
            s.reservations[uid] = nil
        }
    }

    /// Drops the entry of a forgotten agent, unless it is a reservation made since.
    func remove(_ uid: InstanceUID) {
        stripe(uid).state.withLock { s in
            guard let entry = s.entries[uid], !entry.reserved else { return }
            s.entries[uid] = nil
            population.subtract(1, ordering: .relaxed)
        }
    }

    /// Gives back the room of reservations older than `lifetime` whose agent never arrived.
    func dropReservations(olderThan lifetime: Int64, now: Int64) {
        for box in stripes {
            box.state.withLock { s in
                guard !s.reservations.isEmpty else { return }
                for (uid, at) in s.reservations where now - at > lifetime {
                    s.reservations[uid] = nil
                    if s.entries[uid]?.reserved == true {
                        s.entries[uid] = nil
                        population.subtract(1, ordering: .relaxed)
                    }
                }
            }
        }
    }
}
