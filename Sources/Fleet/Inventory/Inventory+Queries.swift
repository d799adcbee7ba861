import Core

extension Inventory {
    /// Agents held, and how many of them are connected.
    var counts: (known: Int, connected: Int) {
        state.withLock { ($0.agents.count, $0.connectedCount) }
    }

    /// One agent's state.
    func agent(_ uid: InstanceUID) -> AgentState? {
        state.withLock { $0.agents[uid] }
    }

    /// A filtered, uid-ordered page of agents. Only the page is turned into summaries: the
    /// lock is held for one pass over the agents, not for building every item.
    func page(_ query: AgentQuery) -> AgentPage {
        let limit = max(1, min(query.limit, 1000))
        let after = query.cursor.flatMap(InstanceUID.init(string:))
        var matching: [InstanceUID] = []
        var total = 0
        state.withLock { s in
            for (uid, state) in s.agents {
                if let connected = query.connected, state.row.connected != connected { continue }
                if !AgentState.matches(state.attributes, query.attributes) { continue }
                total += 1
                if let after, !Self.precedes(after, uid) { continue }
                matching.append(uid)
            }
        }
        // Canonical UUID text sorts like the big-endian bytes.
        let page =
            matching.count > limit
            ? Array(matching.sorted(by: Self.precedes).prefix(limit)) : matching.sorted(by: Self.precedes)
        let items: [AgentSummary] = state.withLock { s in page.compactMap { s.agents[$0].map(\.summary) } }
        return AgentPage(
            items: items, total: total, nextCursor: matching.count > limit ? page.last?.description : nil)
    }

    static func precedes(_ a: InstanceUID, _ b: InstanceUID) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// Progress of assignment `id`.
    func progress(_ id: String) -> ProgressCounts {
        state.withLock { $0.progress[id] ?? ProgressCounts() }
    }

    /// After a new assignment: recomputes every agent's desired config and returns the
    /// connected ones that accept remote config and now want another one.
    func refreshAll() -> [InstanceUID] {
        var toPush: [InstanceUID] = []
        state.withLock { s in
            let current = assignments.all
            for uid in Array(s.agents.keys) where refreshDesired(&s, uid, current) {
                if let state = s.agents[uid], state.row.connected, state.capabilities.contains(.acceptsRemoteConfig) {
                    toPush.append(uid)
                }
            }
        }
        return toPush
    }

    /// Retention: removes the disconnected agents not seen since `cutoff` and returns them.
    func forget(notSeenSince cutoff: Int64) -> [InstanceUID] {
        let forgotten: [InstanceUID] = state.withLock { s in
            let stale = s.agents.compactMap { uid, state in
                !state.row.connected && state.row.lastSeen < cutoff ? uid : nil
            }
            for uid in stale { s.remove(uid) }
            return stale
        }
        for uid in forgotten { hot.remove(uid) }
        return forgotten
    }

    /// Last-seen times held back by the write interval, marked as written (at shutdown).
    func takeUnwrittenLastSeen() -> [(InstanceUID, Int64)] {
        state.withLock { s in
            var unwritten: [(InstanceUID, Int64)] = []
            for (uid, state) in s.agents where state.row.lastSeen > state.seenWritten {
                unwritten.append((uid, state.row.lastSeen))
                s.agents[uid]!.seenWritten = state.row.lastSeen
            }
            return unwritten
        }
    }
}

extension AgentState {
    /// The agent as the operator API lists it.
    var summary: AgentSummary {
        AgentSummary(
            instanceUID: row.uid, connected: row.connected, firstSeen: row.firstSeen,
            lastSeen: row.lastSeen, attributes: BoundedRendering.attributes(attributes),
            capabilities: UInt64(bitPattern: row.capabilities),
            effectiveConfigHash: row.effectiveConfigHash,
            remoteConfigStatus: row.remoteConfigStatus == nil ? nil : (remoteHash, remoteStatus.apiName, remoteError),
            healthy: healthy, desiredConfigHash: desiredHash)
    }
}
