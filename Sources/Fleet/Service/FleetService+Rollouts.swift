import Core
import Foundation

// Rollouts: created by operators, advanced by the controller's tick (the fleet's housekeeping
// thread, every 50 ms), gated on counters the inventory keeps as agents change: a tick costs
// the running rollouts, never a walk over the fleet. See docs/ARCHITECTURE.md.
extension FleetService {
    /// Creates a rollout of a published config version and starts its first stage. Written to
    /// the database before it is acknowledged: call it off an async executor.
    public func createRollout(
        config: String, version: Int64, target: RolloutTarget, stages: [RolloutStage], soakSeconds: Int64,
        gates: RolloutGates
    ) throws(FleetError) -> Rollout {
        let found: [[String?]]
        do throws(StoreError) {
            found = try store.select(
                "SELECT hash, draft FROM config_versions WHERE name = $1 AND version = $2", [config, String(version)])
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the config version was not read: \(error.message)")
        }
        guard let row = found.first, let hash = row[0] else {
            throw FleetError(.notFound, "version_not_found", "config \(config) has no version \(version)")
        }
        guard row[1] != "1" else {
            throw FleetError(
                .invalid, "unpublished_version", "version \(version) of \(config) is a draft: publish it first")
        }
        guard inventory.catalogue.shared(hash) != nil else {
            throw FleetError(.unavailable, "database_unavailable", "the config's content could not be read")
        }
        inventory.catalogue.learnComponents(hash)
        let targets: [(uid: InstanceUID, attributes: [(key: String, value: String)])]
        let keep = stages.contains { if case .selector = $0 { true } else { false } }
        switch target {
        case .selector(let selector): targets = inventory.targets(selector, uids: nil, attributes: keep)
        case .uids(let texts):
            var uids: [InstanceUID] = []
            for text in texts {
                guard let uid = InstanceUID(string: text) else {
                    throw FleetError(.invalid, "invalid_uid", "\(text) is not a UUID")
                }
                uids.append(uid)
            }
            targets = inventory.targets(nil, uids: uids, attributes: keep)
        case .group(let name):
            guard let selector = groupSelector(name) else {
                throw FleetError(.notFound, "group_not_found", "no group named \(name)")
            }
            targets = inventory.targets(selector, uids: nil, attributes: keep)
        }
        guard !targets.isEmpty else {
            throw FleetError(.invalid, "empty_target", "the target selects no known agent that accepts remote config")
        }
        let members = RolloutPlan.split(targets, stages: stages)
        let spec = RolloutSpec(
            config: config, version: version, hash: hash, target: target, stages: stages, soakSeconds: soakSeconds,
            gates: gates)
        let now = options.clock()
        var rollout = Rollout(
            id: Self.newID(), spec: spec, state: .running, stage: 0, stages: members.count, reason: nil, etag: 1,
            rollbackOf: nil, createdAt: now, updatedAt: now)
        // Stored before the controller's lock is taken: a million members take seconds to
        // write, and the running rollouts must not wait for them.
        let rows = members.enumerated().flatMap { stage, uids in
            uids.map { RolloutMemberRow(uid: $0.description, stage: stage, pin: hash, previous: nil) }
        }
        do throws(StoreError) {
            try store.saveRollout(Self.row(rollout, doneAt: nil), members: rows)
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the rollout was not stored: \(error.message)")
        }
        let created = try rollouts.change { (s) throws(FleetError) -> Rollout in
            do throws(FleetError) {
                rollout.superseded = try supersede(&s, for: Set(targets.map(\.uid)))
            } catch {
                // Stored but not started: it must not start after a restart either.
                var undone = rollout
                undone.state = .aborted
                undone.reason = "not started: \(error.message)"
                try? store.saveRollout(Self.row(undone, doneAt: nil))
                throw error
            }
            var entry = RolloutBook.Entry(rollout: rollout, members: members)
            startStage(&entry, 0, now: now)
            // Stored at once, with what the first stage's agents ran before: the tick may be
            // writing other rollouts, never this new one.
            persist(&entry)
            s.entries[rollout.id] = entry
            s.order.append(rollout.id)
            options.log("fleet: rollout \(rollout.id) of \(config) v\(version) to \(targets.count) agents started")
            return view(entry)
        }
        announceRollouts([created.id], members: Array(created.superseded.keys))
        return created
    }

    /// A rollout with its counts, if it exists.
    public func rollout(_ id: String) -> Rollout? {
        rollouts.snapshot.entries[id].map(view)
    }

    /// Every rollout, newest first.
    public func listRollouts() -> [Rollout] {
        let s = rollouts.snapshot
        return s.order.reversed().compactMap { s.entries[$0].map(view) }
    }

    /// What an operator can do to a rollout.
    public enum RolloutAction: String, Sendable {
        /// Stop before the next stage (agents keep what they got).
        case pause
        /// Go on from the stage it paused in; failures seen so far no longer count for the gates.
        case resume
        /// Stop for good.
        case abort
        /// Give every agent it changed back what it ran before, as a new rollout.
        case rollback
    }

    /// Applies `action` to rollout `id`; `ifMatch` (when given) must be its current ETag.
    /// Returns the rollout (for `rollback`, the new rollback rollout). Call it off an async
    /// executor (it writes to the database).
    public func act(_ action: RolloutAction, on id: String, ifMatch: Int64?) throws(FleetError) -> Rollout {
        let done = try rollouts.writing.withLock { _ throws(FleetError) -> Rollout in
            do throws(FleetError) {
                return try act(action, id, ifMatch)
            } catch {
                // Another instance stored a change first: this one takes it, the operator retries.
                if error.code == Self.changedElsewhere { reloadRollouts(id + "|") }
                throw error
            }
        }
        announceRollouts(done.id == id ? [id] : [id, done.id])
        return done
    }

    /// The error code of an action that lost to another instance's change of the same rollout.
    static let changedElsewhere = "rollout_changed"

    private func act(_ action: RolloutAction, _ id: String, _ ifMatch: Int64?) throws(FleetError) -> Rollout {
        let now = options.clock()
        return try rollouts.change { (s) throws(FleetError) -> Rollout in
            guard var entry = s.entries[id] else {
                throw FleetError(.notFound, "rollout_not_found", "no rollout \(id)")
            }
            if let ifMatch, ifMatch != entry.rollout.etag {
                throw FleetError(
                    .preconditionFailed, "precondition_failed",
                    "rollout \(id) changed since (its ETag is \"\(entry.rollout.etag)\", not \"\(ifMatch)\")")
            }
            let state = entry.rollout.state
            func refuse(_ why: String) -> FleetError {
                FleetError(.conflict, "invalid_state", "rollout \(id) is \(state.rawValue): \(why)")
            }
            switch action {
            case .pause:
                guard state == .running || state == .pending else { throw refuse("only a running rollout pauses") }
                change(&entry, to: .paused, reason: "paused by an operator", now: now)
            case .resume:
                guard state == .paused else { throw refuse("only a paused rollout resumes") }
                entry.baseline = inventory.rolloutCounts(id)[entry.rollout.stage] ?? StageCounts()
                change(&entry, to: .running, reason: nil, now: now)
            case .abort:
                guard !state.isFinal else { throw refuse("it is over already") }
                change(&entry, to: .aborted, reason: "aborted by an operator", now: now)
            case .rollback:
                guard state != .rolledBack, state != .pending, entry.rollout.rollbackOf == nil else {
                    throw refuse("only a rollout that started, and is not a rollback, can be rolled back")
                }
                let back = try rollback(&s, of: &entry, now: now)
                s.entries[id] = entry
                return view(back)
            }
            if persist(&entry) == .superseded {
                throw FleetError(
                    .conflict, Self.changedElsewhere,
                    "rollout \(id) was changed by another instance at the same moment: read it again and retry")
            }
            s.entries[id] = entry
            return view(entry)
        }
    }
}
