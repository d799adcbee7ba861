import Core

// Agents other instances hold (docs/ARCHITECTURE.md, "Several instances"): their rows, as the
// peers wrote them, replace what this instance had, so every instance lists the whole fleet.
extension Inventory {
    /// Takes rows other instances wrote and removes agents they forgot; returns the agents this
    /// instance held that a peer holds now, and the events the rows tell of (connections,
    /// health, configs), for this instance's event stream. A row older than what this instance
    /// holds (its own newer claim, or a later announcement already taken) is skipped.
    @discardableResult
    func absorb(_ rows: [AgentRow], gone: [String], now: Int64) -> (movedAway: [InstanceUID], events: [HistoryRow]) {
        var events: [HistoryRow] = []
        var added: [InstanceUID] = []
        var movedAway: [InstanceUID] = []
        var held: [(InstanceUID, SessionSeed)] = []
        var removed: [InstanceUID] = []
        state.withLock { s in
            let current = assignments.all
            for row in rows where row.owner != instance {
                guard let uid = InstanceUID(string: row.uid) else { continue }
                let before = s.agents[uid]
                if let before, before.row.claimedAt > row.claimedAt { continue }
                if let before, before.row.owner == instance, before.row.connected, before.row.claimedAt == row.claimedAt
                {
                    continue
                }
                var next = before ?? AgentState(row: row)
                if before != nil { next.adopt(row, now: now) } else { added.append(uid) }
                if before?.row.owner == instance { movedAway.append(uid) }
                next.seenWritten = row.lastSeen
                s.replace(uid, before, with: next)
                // What the agent should run follows from its attributes, capabilities and
                // components: a row that changed none of them (a status reply) changes nothing.
                if before == nil || before?.row.description != row.description
                    || before?.row.capabilities != row.capabilities || before?.row.componentsHash != row.componentsHash
                {
                    refreshDesired(
                        &s, uid, current, now: now, recheck: before?.row.componentsHash != row.componentsHash)
                }
                if before?.seed != next.seed { held.append((uid, next.seed)) }
                events.append(contentsOf: Self.events(from: before, to: next))
            }
            for key in gone {
                guard let uid = InstanceUID(string: key), let state = s.agents[uid], state.row.owner != instance
                else { continue }
                s.remove(uid)
                removed.append(uid)
            }
        }
        for uid in added { hot.admit(uid) }
        for (uid, seed) in held { hot.update(uid) { $0.seed(seed) } }
        for uid in removed { hot.remove(uid) }
        return (movedAway, events)
    }

    /// What changed between two states of a peer's agent, as the holding instance's history
    /// names it.
    static func events(from before: AgentState?, to next: AgentState) -> [HistoryRow] {
        var out: [HistoryRow] = []
        let row = next.row
        func event(_ kind: String, _ detail: String) {
            out.append(HistoryRow(uid: row.uid, at: row.lastSeen, kind: kind, detail: detail))
        }
        if row.connected != (before?.row.connected ?? false) {
            event(row.connected ? "connected" : "disconnected", row.connected ? "on \(row.owner)" : "")
        }
        if let healthy = next.healthy, healthy != before?.healthy {
            event("health_changed", healthy ? "healthy" : "unhealthy")
        }
        if let hash = row.effectiveConfigHash, hash != before?.row.effectiveConfigHash {
            event("effective_config_changed", hash)
        }
        if row.remoteConfigStatus != nil, row.remoteConfigStatus != before?.row.remoteConfigStatus {
            let error = next.remoteError.isEmpty ? "" : ": \(next.remoteError)"
            event("remote_config_status_changed", "\(next.remoteStatus.apiName) \(next.remoteHash)\(error)")
        }
        return out
    }
}

extension AgentState {
    /// Takes another instance's row for this agent: its status parts and what is decoded from
    /// them; what this instance decided for the agent (desired config, pins) stays.
    /// Only the parts whose bytes changed are decoded again, and an unchanged part keeps the
    /// bytes already held: a peer's status reply rewrites the whole row, and after a push to
    /// the fleet every instance takes in every agent's row twice.
    mutating func adopt(_ row: AgentRow, now: Int64) {
        var row = row
        if row.description == self.row.description {
            row.description = self.row.description
        } else {
            attributes = Self.attributes(encoded: row.description)
        }
        if row.health == self.row.health {
            row.health = self.row.health
        } else {
            healthy = row.health.flatMap { try? ComponentHealth(serializedBytes: $0) }?.healthy
        }
        if row.remoteConfigStatus == self.row.remoteConfigStatus {
            row.remoteConfigStatus = self.row.remoteConfigStatus
        } else if let status = row.remoteConfigStatus.flatMap({ try? RemoteConfigStatus(serializedBytes: $0) }) {
            setRemote(status)
        } else {
            (remoteHash, remoteStatus, remoteError, runningConfig) = ("", .unset, "", 0)
        }
        self.row = row
        guard var track else { return }
        // In the order the holding instance saw them: the connection, its report, its end.
        if row.connected { ConfigStateMachine.connected(&track, now: now) }
        if row.remoteConfigStatus != nil {
            ConfigStateMachine.report(&track, hash: remoteHash, status: remoteStatus, error: remoteError, now: now)
        }
        if !row.connected { ConfigStateMachine.disconnected(&track, now: now) }
        self.track = track
    }
}
