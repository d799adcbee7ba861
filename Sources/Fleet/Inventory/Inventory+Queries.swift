import Core

extension Inventory {
    /// Agents held, and how many of them are connected.
    var counts: (known: Int, connected: Int) {
        state.withLock { ($0.agents.count, $0.connectedCount) }
    }

    /// Agents this instance's own connections hold.
    var held: Int { heldMirror.value.load(ordering: .relaxed) }

    /// One agent's state.
    func agent(_ uid: InstanceUID) -> AgentState? {
        state.withLock { $0.agents[uid] }
    }

    /// A filtered, sorted page of agents. One pass under the lock over the `ListIndex` (a few
    /// contiguous bytes per agent; an agent's state is looked up only for what the index cannot
    /// tell: free-text search, attributes past the first eight), keeping only the candidates that
    /// can still be on the page (a bounded buffer, sorted when full): at a million agents this
    /// costs a scan of the index, not a sort of every match. Only the page becomes summaries.
    func page(_ query: AgentQuery) -> AgentPage {
        let limit = max(1, min(query.limit, 1000))
        let sort = query.sort
        let after = query.cursor.flatMap { AgentCursor($0, sort: sort) }
        let before = { (a: AgentCursor, b: AgentCursor) in Self.before(a, b, sort.descending) }
        var kept: [AgentCursor] = []
        kept.reserveCapacity(4 * (limit + 1))
        var threshold: AgentCursor?
        var total = 0
        let attributes = query.attributes
        let wanted = attributes.map { ListIndex.lane($0.key, $0.value) }
        let search = query.search?.lowercased()
        let stateCode = query.configState.map { ListIndex.Facts.code($0) }
        let labelled = !query.labels.isEmpty
        let wantedLanes = wanted.map { SIMD8<Int32>(repeating: $0) }
        let useKey = sort.field != .uid
        let descending = sort.descending
        state.withLock { s in
            let index = s.index
            let sortKeys = sort.field == .lastSeen ? index.lastSeen : index.firstSeen
            // Spans read without a bounds check (every array has one entry per agent, checked
            // once) and no closure calls in the loop: at a million agents every nanosecond per
            // agent is a millisecond under the lock the ingest thread waits for.
            let facts = index.facts.span
            let uids = index.uids.span
            let hashes = index.hashes.span
            let keys = sortKeys.span
            precondition(uids.count == facts.count && hashes.count == facts.count && keys.count == facts.count)
            for i in 0..<facts.count {
                let f = facts[unchecked: i]
                if let connected = query.connected, f.connected != connected { continue }
                if let stateCode, !f.isIn(stateCode) { continue }
                if let healthy = query.healthy, f.healthy != healthy { continue }
                var needsState = search != nil
                if !wantedLanes.isEmpty {
                    let lanes = hashes[unchecked: i]
                    let inUse = ListIndex.laneMasks[min(Int(f.attributeCount), 8)]
                    var all = true
                    for wanted in wantedLanes where !any((lanes .== wanted) .& inUse) {
                        all = false
                        break
                    }
                    if !all {
                        // Past eight attributes the state tells.
                        guard f.attributeCount > 8 else { continue }
                        needsState = true
                    }
                }
                let uid = uids[unchecked: i]
                if needsState {
                    guard let at = s.agents.index(forKey: uid),
                        s.agents.values[at].passes(attributes, search: search, uid: uid)
                    else { continue }
                }
                if labelled {
                    let mine = labels.of(uid)
                    guard query.labels.allSatisfy({ mine[$0.key] == $0.value }) else { continue }
                }
                total += 1
                let key = useKey ? keys[unchecked: i] : 0
                if let after, !Self.before(after.key, after.uid, key, uid, descending) { continue }
                if let threshold, !Self.before(key, uid, threshold.key, threshold.uid, descending) {
                    continue
                }
                kept.append(AgentCursor(key: key, uid: uid))
                if kept.count == kept.capacity {
                    kept.sort(by: before)
                    kept.removeLast(kept.count - (limit + 1))
                    threshold = kept.last
                }
            }
        }
        kept.sort(by: before)
        let more = kept.count > limit
        let page = Array(kept.prefix(limit))
        // The strings themselves are compared for the page (a hash collision is possible, if
        // never seen: it would cost a page one item, and the total one too many).
        // The states are copied under the lock; their summaries are built after it.
        let states: [AgentState] = state.withLock { s in page.compactMap { s.agents[$0.uid] } }
        let items = states.compactMap { AgentState.matches($0.attributes, attributes) ? $0.summary : nil }
        return AgentPage(items: items, total: total, nextCursor: more ? page.last?.text(for: sort) : nil)
    }

    /// Whether `a` comes before `b`: by key, then by uid (both reversed when descending).
    static func before(_ a: AgentCursor, _ b: AgentCursor, _ descending: Bool) -> Bool {
        before(a.key, a.uid, b.key, b.uid, descending)
    }

    @inline(__always)
    static func before(_ aKey: Int64, _ a: InstanceUID, _ bKey: Int64, _ b: InstanceUID, _ descending: Bool) -> Bool {
        if aKey != bKey { return descending ? aKey > bKey : aKey < bKey }
        return descending ? precedes(b, a) : precedes(a, b)
    }

    /// Counts by connection, health and config state: kept as agents change, so an overview
    /// costs no pass over the fleet.
    func facets() -> AgentFacets {
        state.withLock { s in
            var out = AgentFacets()
            out.total = s.agents.count
            out.connected = s.connectedCount
            out.healthy = s.healthyCount
            out.unhealthy = s.unhealthyCount
            out.configStates = s.configStates.filter { $0.value > 0 }
            return out
        }
    }

    static func precedes(_ a: InstanceUID, _ b: InstanceUID) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// Progress of assignment `id`.
    func progress(_ id: String) -> ProgressCounts {
        state.withLock { $0.progress[id] ?? ProgressCounts() }
    }

    /// After a new assignment: recomputes every agent's desired config. The agents this
    /// instance holds come first, and `push` gets the connected ones that accept remote config
    /// and now want another one before the rest of the fleet (other instances' agents, the
    /// disconnected) is walked: a push to the fleet does not wait for the whole walk.
    func refreshAll(now: Int64, push: ([InstanceUID]) -> Void) {
        let (toPush, others) = state.withLock { s in
            let current = assignments.all
            var held: [(uid: InstanceUID, accepts: Bool)] = []
            var others: [InstanceUID] = []
            // Sorted out first: changing `s.agents` while iterating it would copy it whole.
            for (uid, agent) in s.agents {
                if agent.isHeld(by: instance) {
                    held.append((uid, agent.capabilities.contains(.acceptsRemoteConfig)))
                } else {
                    others.append(uid)
                }
            }
            let toPush = held.filter { refreshDesired(&s, $0.uid, current, now: now) && $0.accepts }.map(\.uid)
            return (toPush, others)
        }
        push(toPush)
        state.withLock { s in
            let current = assignments.all
            for uid in others { refreshDesired(&s, uid, current, now: now) }
        }
    }

    /// After `uids`' labels changed: recomputes their desired configs; returns the connected
    /// ones this instance holds that accept remote config and now want another one.
    func refresh(_ uids: [InstanceUID], now: Int64) -> [InstanceUID] {
        state.withLock { s in
            let current = assignments.all
            return uids.filter { uid in
                guard let agent = s.agents[uid] else { return false }
                let held = agent.isHeld(by: instance) && agent.capabilities.contains(.acceptsRemoteConfig)
                return refreshDesired(&s, uid, current, now: now) && held
            }
        }
    }

    /// The rows of the agents this instance holds now, to be written again (a leader may have
    /// shown them disconnected while this instance's heartbeats were late).
    func heldRows() -> [InstanceUID: AgentRow] {
        state.withLock { s in
            var rows: [InstanceUID: AgentRow] = [:]
            for (uid, agent) in s.agents where agent.isHeld(by: instance) {
                rows[uid] = agent.row
            }
            return rows
        }
    }

    /// Retention: removes the disconnected agents not seen since `cutoff` and returns them.
    func forget(notSeenSince cutoff: Int64) -> [InstanceUID] {
        let forgotten: [InstanceUID] = state.withLock { s in
            // From the list index: a walk over the states themselves copied each one, for a
            // million agents every minute, under the lock.
            let index = s.index
            let stale = (0..<index.count).compactMap { i in
                !index.facts[i].connected && index.lastSeen[i] < cutoff ? index.uids[i] : nil
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
            healthy: healthy, desiredConfigHash: desiredHash, configState: track?.state,
            configMessage: track?.message ?? "", instance: row.connected ? row.owner : nil)
    }
}

extension Inventory {
    /// How the agents matching each selector stand: one pass over the fleet for all of them.
    func membership(_ selectors: [[String: String]]) -> [GroupMembers] {
        var out = [GroupMembers](repeating: GroupMembers(), count: selectors.count)
        guard !selectors.isEmpty else { return out }
        let labelled = selectors.contains { $0.keys.contains { $0.hasPrefix(AgentLabels.selectorPrefix) } }
        state.withLock { s in
            for (uid, agent) in s.agents {
                let attributes = labelled ? agent.attributes + labels.selectorPairs(uid) : agent.attributes
                for (i, selector) in selectors.enumerated() where AgentState.matches(attributes, selector) {
                    out[i].total += 1
                    if agent.row.connected { out[i].connected += 1 }
                    if agent.healthy == true { out[i].healthy += 1 }
                    if agent.healthy == false { out[i].unhealthy += 1 }
                    if let state = agent.track?.state { out[i].configStates[state, default: 0] += 1 }
                }
            }
        }
        return out
    }
}

extension Inventory {
    /// The agents `selector` matches (attributes and `label:KEY` labels), with what a command
    /// needs to know of each: one pass over the fleet, no agent copied.
    func matching(_ selector: [String: String]) -> [(
        uid: InstanceUID, connected: Bool, capabilities: AgentCapabilities, owner: String
    )] {
        let labelled = selector.keys.contains { $0.hasPrefix(AgentLabels.selectorPrefix) }
        return state.withLock { s in
            s.agents.compactMap { uid, agent in
                let attributes = labelled ? agent.attributes + labels.selectorPairs(uid) : agent.attributes
                return AgentState.matches(attributes, selector)
                    ? (uid, agent.row.connected, agent.capabilities, agent.row.owner) : nil
            }
        }
    }
}
