import Core
import Foundation

extension FleetService {
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
    func announceRollouts(_ ids: [String], members: [String] = []) {
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
}
