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

    /// One controller pass: stalls, gates, stage ends, soaks (run every 50 ms).
    func rolloutTick() {
        let cpu = WallClock.threadCPUSeconds()
        defer {
            let spent = WallClock.threadCPUSeconds() - cpu
            counters.update { $0.controllerCPUSeconds += spent }
        }
        let now = options.clock()
        let stalled = inventory.expireStalled(now: now)
        if stalled > 0 { options.log("fleet: \(stalled) agents stalled applying their config") }
        // With several instances only the leader moves rollouts on; the others follow what it
        // stores (`reloadRollouts`).
        let leads = isLeader
        var stored: [String] = []
        var superseded: [String] = []
        rollouts.writing.withLock { _ in
            // Moved on under the book's lock, written after it: a stage start at a million agents
            // writes while the writer may hold the database for seconds, and reading a rollout
            // (or another rollout's gate) must not wait for that.
            var changed: [(row: RolloutRow, previous: [RolloutMemberRow])] = []
            rollouts.change { s in
                for id in s.order {
                    // Final rollouts are left alone once the stream has said so.
                    guard var entry = s.entries[id],
                        !entry.rollout.state.isFinal || entry.dirty
                            || entry.published?.signature.hasPrefix(entry.rollout.state.rawValue + "/") != true
                    else { continue }
                    if entry.rollout.state == .running && leads { advance(&entry, now: now) }
                    if entry.dirty {
                        changed.append((Self.row(entry), entry.unsavedPrevious))
                    }
                    publishProgress(&entry, now: now)
                    s.entries[id] = entry
                }
            }
            guard !changed.isEmpty else { return }
            let outcomes = changed.map { change in (change.row, save(change.row, previous: change.previous)) }
            rollouts.change { s in
                for (row, error) in outcomes {
                    // Clean unless it changed since (operators' actions wait for `writing`; a new
                    // rollout taking members away stores that itself).
                    guard var entry = s.entries[row.id], entry.rollout.etag == row.etag,
                        entry.doneAt == row.stageDoneAt
                    else { continue }
                    switch settle(&entry, error) {
                    case .stored: stored.append(row.id)
                    case .superseded: superseded.append(row.id)
                    case .failed: break
                    }
                    s.entries[row.id] = entry
                }
            }
        }
        if !stored.isEmpty { announceRollouts(stored) }
        // An operator's action on another instance was stored first: it stands, and this
        // instance takes it (its own change is dropped).
        if !superseded.isEmpty { reloadRollouts(superseded.joined(separator: ",") + "|") }
    }

    /// Tells the event stream that a rollout moved: at most every 250 ms while only its counts
    /// change, at once when its state or stage does. Counts are kept as agents change state, so
    /// this costs the same at any fleet size.
    private func publishProgress(_ entry: inout RolloutBook.Entry, now: Int64) {
        let rollout = view(entry)
        let c = rollout.counts
        let counts = ConfigState.allCases.map { String(c[$0]) }.joined(separator: ",")
        let head = "\(rollout.state.rawValue)/\(rollout.stage)"
        let signature = "\(head) \(c.targets),\(c.unhealthy),\(counts)"
        if let last = entry.published {
            guard last.signature != signature else { return }
            if last.signature.hasPrefix(head + " ") && now - last.at < 250 { return }
        }
        entry.published = (signature, now)
        events.publish(.rolloutProgress, at: now, rollout: rollout)
    }

    /// Loads the rollouts and pins their started stages again (at start, before any agent).
    func loadRollouts() throws(StoreError) {
        let rows = try store.loadRollouts()
        let now = options.clock()
        var loaded = RolloutBook.State()
        for row in rows {
            guard var entry = try entry(from: row) else { continue }
            // Oldest first: a newer rollout's pins replace an older one's, as when they were made.
            if entry.rollout.state != .pending {
                for stage in 0...min(entry.rollout.stage, entry.members.count - 1) { _ = pin(&entry, stage, now: now) }
            }
            loaded.entries[row.id] = entry
            loaded.order.append(row.id)
        }
        rollouts.change { $0 = loaded }
    }

    /// A stored rollout with its members (nil: its spec is unreadable).
    private func entry(from row: RolloutRow) throws(StoreError) -> RolloutBook.Entry? {
        guard let spec = try? JSONDecoder().decode(RolloutSpec.self, from: Data(row.spec.utf8)) else {
            options.log("fleet: rollout \(row.id) has an unreadable spec and is skipped")
            return nil
        }
        var members = [[InstanceUID]](repeating: [], count: max(1, row.stages))
        var pins: [InstanceUID: String] = [:]
        for member in try store.loadRolloutMembers(row.id) {
            guard let uid = InstanceUID(string: member.uid), member.stage < members.count else { continue }
            members[member.stage].append(uid)
            if row.rollbackOf != nil { pins[uid] = member.pin }
        }
        inventory.catalogue.learnComponents(spec.hash)
        let rollout = Rollout(
            id: row.id, spec: spec, state: RolloutState(rawValue: row.state) ?? .aborted, stage: row.stage,
            stages: members.count, reason: row.reason, etag: row.etag, rollbackOf: row.rollbackOf,
            createdAt: row.createdAt, updatedAt: row.updatedAt)
        var entry = RolloutBook.Entry(rollout: rollout, members: members, pins: pins, doneAt: row.stageDoneAt)
        entry.baseline = StageCounts(gateBaseline: row.gateBaseline)
        return entry
    }

    /// Tells the other instances that these rollouts changed (and, for `members`, which agents
    /// they hold).
    private func announceRollouts(_ ids: [String], members: [String] = []) {
        guard !ids.isEmpty else { return }
        forward(.rollouts, body: ids.joined(separator: ",") + "|" + members.joined(separator: ","), to: "*")
    }

    /// Takes what another instance stored for these rollouts: their state and stage, the
    /// stages it started pinned here too (idempotent: an agent already pinned is not offered
    /// its config again), and for `members` their agents anew.
    func reloadRollouts(_ body: String) {
        let parts = body.split(separator: "|", omittingEmptySubsequences: false)
        let ids = Set(parts.first.map { $0.split(separator: ",").map(String.init) } ?? [])
        let withMembers = Set(parts.count > 1 ? parts[1].split(separator: ",").map(String.init) : [])
        let now = options.clock()
        var fresh: [String: RolloutBook.Entry] = [:]
        let rows: [RolloutRow]
        do throws(StoreError) {
            rows = try store.loadRollouts().filter { ids.contains($0.id) || withMembers.contains($0.id) }
            let known = Set(rollouts.snapshot.entries.keys)
            // Members are read outside the controller's lock.
            for row in rows where !known.contains(row.id) || withMembers.contains(row.id) {
                fresh[row.id] = try entry(from: row)
            }
        } catch {
            options.log("fleet: rollouts stored by another instance not read: \(error.message)")
            return
        }
        rollouts.change { s in
            for row in rows {
                guard var entry = s.entries[row.id] ?? fresh[row.id] else { continue }
                let isNew = s.entries[row.id] == nil
                let from = isNew ? -1 : entry.rollout.stage
                if let reread = fresh[row.id], !isNew { entry.members = reread.members }
                entry.rollout.state = RolloutState(rawValue: row.state) ?? entry.rollout.state
                entry.rollout.stage = row.stage
                entry.rollout.reason = row.reason
                entry.rollout.etag = row.etag
                entry.rollout.updatedAt = row.updatedAt
                entry.doneAt = row.stageDoneAt
                entry.baseline = StageCounts(gateBaseline: row.gateBaseline)
                entry.dirty = false
                if entry.rollout.state != .pending && row.stage > from {
                    for stage in max(0, from + 1)...min(row.stage, entry.members.count - 1) {
                        _ = pin(&entry, stage, now: now)
                    }
                }
                s.entries[row.id] = entry
                if isNew { s.order.append(row.id) }
            }
        }
    }

    // MARK: Controller steps (called with the book's lock held)

    private func advance(_ entry: inout RolloutBook.Entry, now: Int64) {
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

    private func startStage(_ entry: inout RolloutBook.Entry, _ stage: Int, now: Int64) {
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
    private func pin(_ entry: inout RolloutBook.Entry, _ stage: Int, now: Int64) -> [InstanceUID: String] {
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

    private func change(_ entry: inout RolloutBook.Entry, to state: RolloutState, reason: String?, now: Int64) {
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
    private func persist(_ entry: inout RolloutBook.Entry) -> SaveOutcome {
        settle(&entry, save(Self.row(entry), previous: entry.unsavedPrevious))
    }

    /// Writes a rollout's row and what its latest stage's agents ran before.
    private func save(_ row: RolloutRow, previous: [RolloutMemberRow]) -> Result<Bool, StoreError> {
        do throws(StoreError) {
            if !previous.isEmpty { try store.saveRolloutPrevious(row.id, previous) }
            return .success(try store.updateRollout(row))
        } catch {
            return .failure(error)
        }
    }

    /// Marks `entry` stored, or still to store (logged once while the failure lasts).
    private func settle(_ entry: inout RolloutBook.Entry, _ saved: Result<Bool, StoreError>) -> SaveOutcome {
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
    private func supersede(_ s: inout RolloutBook.State, for taken: Set<InstanceUID>) throws(FleetError) -> [String:
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
    private func rollback(_ s: inout RolloutBook.State, of entry: inout RolloutBook.Entry, now: Int64)
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
    private func view(_ entry: RolloutBook.Entry) -> Rollout {
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

    private static func row(_ entry: RolloutBook.Entry) -> RolloutRow {
        var row = row(entry.rollout, doneAt: entry.doneAt)
        row.gateBaseline = entry.baseline.gateBaseline
        return row
    }

    private static func row(_ rollout: Rollout, doneAt: Int64?) -> RolloutRow {
        let spec = (try? JSONEncoder().encode(rollout.spec)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return RolloutRow(
            id: rollout.id, spec: spec, state: rollout.state.rawValue, stage: rollout.stage, stages: rollout.stages,
            reason: rollout.reason, etag: rollout.etag, stageDoneAt: doneAt, rollbackOf: rollout.rollbackOf,
            createdAt: rollout.createdAt, updatedAt: rollout.updatedAt)
    }

    private static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        return String(format: "%016llx", random.next() as UInt64)
    }
}
