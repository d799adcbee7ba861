import Core
import Foundation

extension FleetService {
    // MARK: Controller steps (called with the book's lock held)

    func advance(_ entry: inout RolloutBook.Entry, now: Int64) {
        let stage = entry.rollout.stage
        var counts = inventory.rolloutCounts(entry.rollout.id)[stage] ?? StageCounts()
        for state in [ConfigState.failed, .rolledBack, .stalled] {
            counts.states[state] = max(0, counts[state] - entry.baseline[state])
        }
        counts.unhealthy = max(0, counts.unhealthy - entry.baseline.unhealthy)
        let step = RolloutPlan.step(
            stage: stage, stageCount: entry.members.count, doneAt: entry.doneAt, counts: counts,
            gates: entry.rollout.spec.gates, soakMilliseconds: entry.rollout.spec.soakSeconds * 1000, now: now)
        switch step {
        case .none: break
        case .pause(let reason):
            change(&entry, to: .paused, reason: reason, now: now)
            options.log("fleet: rollout \(entry.rollout.id) paused: \(reason)")
        case .stageDone:
            entry.doneAt = now
            entry.dirty = true
            // Without a soak the next stage starts in the same pass.
            if entry.rollout.spec.soakSeconds == 0 { advance(&entry, now: now) }
        case .advance(let next):
            startStage(&entry, next, now: now)
        case .complete:
            change(&entry, to: .completed, reason: nil, now: now)
            options.log("fleet: rollout \(entry.rollout.id) completed")
        }
    }

    func startStage(_ entry: inout RolloutBook.Entry, _ stage: Int, now: Int64) {
        let previous = pin(&entry, stage, now: now)
        entry.rollout.stage = stage
        entry.rollout.etag += 1
        entry.rollout.updatedAt = now
        entry.doneAt = nil
        entry.baseline = StageCounts()
        entry.dirty = true
        if entry.rollout.rollbackOf == nil && !previous.isEmpty {
            // Stored with the rollout's row, by whoever stores it next (`persist`, the tick).
            entry.unsavedPrevious += previous.map {
                RolloutMemberRow(
                    uid: $0.key.description, stage: stage, pin: entry.rollout.spec.hash, previous: $0.value)
            }
        }
    }

    /// Pins the members of `stage`; returns what each had applied before.
    func pin(_ entry: inout RolloutBook.Entry, _ stage: Int, now: Int64) -> [InstanceUID: String] {
        let id = entry.rollout.id
        let hash = entry.rollout.spec.hash
        let isRollback = entry.rollout.rollbackOf != nil
        let pins = entry.members[stage].map { uid -> (uid: InstanceUID, pin: RolloutPin?) in
            guard isRollback else { return (uid, RolloutPin(rollout: id, stage: stage, hash: hash)) }
            let back = entry.pins[uid] ?? ""
            return (uid, back.isEmpty ? nil : RolloutPin(rollout: id, stage: stage, hash: back))
        }
        let (push, previous) = inventory.pin(pins, now: now)
        // A stage is a slice of the fleet: its agents are told one by one (batched per loop),
        // never by a sweep over every connection.
        requestPush(push, broadcastAbove: .max)
        return previous
    }

    func change(_ entry: inout RolloutBook.Entry, to state: RolloutState, reason: String?, now: Int64) {
        entry.rollout.state = state
        entry.rollout.reason = reason
        entry.rollout.etag += 1
        entry.rollout.updatedAt = now
        entry.dirty = true
    }

    /// What became of a rollout's row.
    enum SaveOutcome: Equatable {
        case stored
        /// Not stored (the database failed): still to store.
        case failed
        /// Another instance stored a change of the same rollout first (see `updateRollout`).
        case superseded
    }

    /// Stores the rollout's row; on failure it stays dirty and the next tick tries again.
    @discardableResult
    func persist(_ entry: inout RolloutBook.Entry) -> SaveOutcome {
        settle(&entry, save(Self.row(entry), previous: entry.unsavedPrevious))
    }

    /// Writes a rollout's row and what its latest stage's agents ran before.
    func save(_ row: RolloutRow, previous: [RolloutMemberRow]) -> Result<Bool, StoreError> {
        do throws(StoreError) {
            if !previous.isEmpty { try store.saveRolloutPrevious(row.id, previous) }
            return .success(try store.updateRollout(row))
        } catch {
            return .failure(error)
        }
    }

    /// Marks `entry` stored, or still to store (logged once while the failure lasts).
    func settle(_ entry: inout RolloutBook.Entry, _ saved: Result<Bool, StoreError>) -> SaveOutcome {
        switch saved {
        case .success(let stored):
            entry.dirty = false
            entry.failing = false
            entry.unsavedPrevious = []
            if !stored {
                options.log(
                    "fleet: rollout \(entry.rollout.id) was changed by another instance first; taking its change")
            }
            return stored ? .stored : .superseded
        case .failure(let error):
            if !entry.failing { options.log("fleet: rollout \(entry.rollout.id) was not saved, retrying: \(error)") }
            entry.failing = true
            entry.dirty = true
            return .failed
        }
    }

    /// Takes the agents of `taken` out of the stages older rollouts have not started yet.
    func supersede(_ s: inout RolloutBook.State, for taken: Set<InstanceUID>) throws(FleetError) -> [String:
        Int]
    {
        var superseded: [String: Int] = [:]
        for id in s.order {
            guard var entry = s.entries[id], !entry.rollout.state.isFinal else { continue }
            var removed: [String] = []
            for stage in (entry.rollout.stage + 1)..<max(entry.rollout.stage + 1, entry.members.count) {
                entry.members[stage].removeAll { uid in
                    guard taken.contains(uid) else { return false }
                    removed.append(uid.description)
                    return true
                }
            }
            guard !removed.isEmpty else { continue }
            do throws(StoreError) {
                try store.removeRolloutMembers(id, removed)
            } catch {
                throw FleetError(.unavailable, "database_unavailable", "the rollout was not stored: \(error.message)")
            }
            superseded[id] = removed.count
            s.entries[id] = entry
        }
        return superseded
    }

    /// The rollback of `entry`: a new rollout that gives the agents of its started stages (those
    /// it still holds) what they had applied before, all at once.
    func rollback(_ s: inout RolloutBook.State, of entry: inout RolloutBook.Entry, now: Int64)
        throws(FleetError)
        -> RolloutBook.Entry
    {
        let original = entry.rollout
        let started = entry.members.prefix(original.stage + 1).flatMap { $0 }
        let held = inventory.pinnedBy(original.id, among: started)
        let previous: [String: String]
        do throws(StoreError) {
            previous = Dictionary(
                try store.loadRolloutMembers(original.id).compactMap { m in m.previous.map { (m.uid, $0) } },
                uniquingKeysWith: { a, _ in a })
        } catch {
            throw FleetError(
                .unavailable, "database_unavailable", "the rollout's agents were not read: \(error.message)")
        }
        var pins: [InstanceUID: String] = [:]
        for uid in held {
            let back = previous[uid.description] ?? ""
            pins[uid] = back.isEmpty || inventory.catalogue.shared(back) == nil ? "" : back
        }
        var spec = original.spec
        spec.stages = []
        spec.gates = RolloutGates()
        spec.soakSeconds = 0
        let back = Rollout(
            id: Self.newID(), spec: spec, state: .running, stage: 0, stages: 1, reason: nil, etag: 1,
            rollbackOf: original.id, createdAt: now, updatedAt: now)
        let rows = held.map { RolloutMemberRow(uid: $0.description, stage: 0, pin: pins[$0] ?? "", previous: nil) }
        var undone = entry
        change(&undone, to: .rolledBack, reason: "rolled back by \(back.id)", now: now)
        do throws(StoreError) {
            try store.saveRollout(Self.row(back, doneAt: nil), members: rows)
            try store.saveRollout(Self.row(undone))
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the rollback was not stored: \(error.message)")
        }
        undone.dirty = false
        entry = undone
        var rollbackEntry = RolloutBook.Entry(rollout: back, members: [held], pins: pins)
        startStage(&rollbackEntry, 0, now: now)
        s.entries[back.id] = rollbackEntry
        s.order.append(back.id)
        options.log("fleet: rollout \(original.id) rolled back by \(back.id) (\(held.count) agents)")
        return rollbackEntry
    }

    /// The rollout with its counts (stages not started count as pending).
    func view(_ entry: RolloutBook.Entry) -> Rollout {
        var rollout = entry.rollout
        let counts = inventory.rolloutCounts(rollout.id)
        rollout.stageCounts = entry.members.indices.map { stage in
            if rollout.state == .pending || stage > rollout.stage {
                var waiting = StageCounts()
                waiting.targets = entry.members[stage].count
                waiting.states[.pending] = entry.members[stage].count
                return waiting
            }
            return counts[stage] ?? StageCounts()
        }
        var total = StageCounts()
        for stage in rollout.stageCounts { total.add(stage) }
        rollout.counts = total
        return rollout
    }

    static func row(_ entry: RolloutBook.Entry) -> RolloutRow {
        var row = row(entry.rollout, doneAt: entry.doneAt)
        row.gateBaseline = entry.baseline.gateBaseline
        return row
    }

    static func row(_ rollout: Rollout, doneAt: Int64?) -> RolloutRow {
        let spec = (try? JSONEncoder().encode(rollout.spec)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return RolloutRow(
            id: rollout.id, spec: spec, state: rollout.state.rawValue, stage: rollout.stage, stages: rollout.stages,
            reason: rollout.reason, etag: rollout.etag, stageDoneAt: doneAt, rollbackOf: rollout.rollbackOf,
            createdAt: rollout.createdAt, updatedAt: rollout.updatedAt)
    }

    static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        return String(format: "%016llx", random.next() as UInt64)
    }
}
