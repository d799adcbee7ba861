import Core

/// What listings filter and sort on, for every agent, in contiguous arrays (one slot per agent,
/// the slot kept in its `AgentState`). A filtered pass over a million agents reads a few bytes
/// of flags per agent, and the attribute hashes only where the flags pass, instead of following
/// each agent's state through the dictionary (a cache miss or more per agent). Kept by
/// `InventoryState.replace` and `remove`, the only places an agent's state is stored, and by
/// the heartbeat pass for the last-seen time.
struct ListIndex {
    /// An agent's connection, health and config state in four bytes.
    struct Facts: Equatable {
        private var bits: UInt8 = 0
        private var stateCode: UInt8 = 0
        /// How many attributes the agent has (its first eight have their hashes in `hashes`).
        var attributeCount: UInt16 = 0

        init() {}

        init(_ state: AgentState) {
            if state.row.connected { bits |= 1 }
            if let healthy = state.healthy { bits |= healthy ? 6 : 2 }
            stateCode = state.track.map { Self.code($0.state) } ?? 0
            attributeCount = UInt16(min(state.attributes.count, Int(UInt16.max)))
        }

        var connected: Bool { bits & 1 != 0 }
        var healthy: Bool? { bits & 2 == 0 ? nil : bits & 4 != 0 }
        var configState: ConfigState? { stateCode == 0 ? nil : Self.states[Int(stateCode) - 1] }

        /// Whether the config state is the one `code` names.
        func isIn(_ code: UInt8) -> Bool { stateCode == code }
        /// The config state's code: 0 for none, else 1 + its place in `states`.
        var stateIndex: Int { Int(stateCode) }

        static let states = ConfigState.allCases.map { $0 }
        static func code(_ state: ConfigState?) -> UInt8 {
            guard let state, let i = states.firstIndex(of: state) else { return 0 }
            return UInt8(i + 1)
        }
    }

    private(set) var uids: [InstanceUID] = []
    private(set) var facts: [Facts] = []
    /// The keyed hashes of each agent's first eight attribute pairs (sorted by key), 32 bits
    /// of each: half the bytes for a pass to read. A collision (about one agent in 500 million
    /// per pair asked for; the hasher's seed is the process's, so no agent can aim for one) can
    /// add one to a total, never an agent to a page, whose items are compared as strings.
    private(set) var hashes: [SIMD8<Int32>] = []
    private(set) var firstSeen: [Int64] = []
    private(set) var lastSeen: [Int64] = []

    var count: Int { uids.count }

    /// Gives `state` a new slot at the end.
    mutating func append(_ uid: InstanceUID, _ state: AgentState) -> Int32 {
        uids.append(uid)
        facts.append(Facts(state))
        hashes.append(Self.digest(state.attributes))
        firstSeen.append(state.row.firstSeen)
        lastSeen.append(state.row.lastSeen)
        return Int32(uids.count - 1)
    }

    /// Brings slot `slot` up to date with `state`; the attribute hashes are computed again only
    /// when the attributes changed.
    mutating func update(_ slot: Int32, _ state: AgentState, attributesChanged: Bool) {
        update(slot, Facts(state), firstSeen: state.row.firstSeen, lastSeen: state.row.lastSeen)
        if attributesChanged { rehash(slot, Self.digest(state.attributes)) }
    }

    /// Brings slot `slot`'s facts and times up to date (an agent changed in place).
    mutating func update(_ slot: Int32, _ facts: Facts, firstSeen: Int64, lastSeen: Int64) {
        let i = Int(slot)
        self.facts[i] = facts
        self.firstSeen[i] = firstSeen
        self.lastSeen[i] = lastSeen
    }

    /// Sets slot `slot`'s attribute hashes (its attributes changed).
    mutating func rehash(_ slot: Int32, _ digest: SIMD8<Int32>) {
        hashes[Int(slot)] = digest
    }

    mutating func touch(_ slot: Int32, lastSeen time: Int64) {
        lastSeen[Int(slot)] = time
    }

    /// Frees `slot` by moving the last agent into it; returns that agent's uid (nil when the
    /// slot was the last one), whose state must learn its new slot.
    mutating func remove(_ slot: Int32) -> InstanceUID? {
        let i = Int(slot)
        let last = uids.count - 1
        if i != last {
            uids[i] = uids[last]
            facts[i] = facts[last]
            hashes[i] = hashes[last]
            firstSeen[i] = firstSeen[last]
            lastSeen[i] = lastSeen[last]
        }
        uids.removeLast()
        facts.removeLast()
        hashes.removeLast()
        firstSeen.removeLast()
        lastSeen.removeLast()
        return i != last ? uids[i] : nil
    }

    /// For each attribute count 0…8, the lanes of `hashes` in use.
    static let laneMasks: [SIMDMask<SIMD8<Int32>.MaskStorage>] = (0...8).map {
        SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8<Int32>(repeating: Int32($0))
    }

    static func digest(_ attributes: [(key: String, value: String)]) -> SIMD8<Int32> {
        var out = SIMD8<Int32>()
        for (i, pair) in attributes.prefix(8).enumerated() { out[i] = lane(pair.key, pair.value) }
        return out
    }

    /// The 32 bits of an attribute pair's keyed hash that `hashes` keeps.
    static func lane(_ key: String, _ value: String) -> Int32 {
        Int32(truncatingIfNeeded: AgentState.pairHash(key, value))
    }
}

extension InventoryState {
    /// Where the list index (or the health counts) disagrees with the agents' states (empty
    /// when it is right): what the tests check after every kind of change.
    func indexDisagreements() -> [String] {
        var out: [String] = []
        if index.count != agents.count {
            out.append("index holds \(index.count) agents, the inventory \(agents.count)")
        }
        for (uid, state) in agents {
            let i = Int(state.slot)
            guard i >= 0, i < index.count, index.uids[i] == uid else {
                out.append("\(uid): slot \(i) does not hold it")
                continue
            }
            if index.facts[i] != ListIndex.Facts(state) { out.append("\(uid): facts differ") }
            if index.hashes[i] != ListIndex.digest(state.attributes) { out.append("\(uid): attribute hashes differ") }
            if index.firstSeen[i] != state.row.firstSeen || index.lastSeen[i] != state.row.lastSeen {
                out.append("\(uid): times differ")
            }
        }
        let healthy = agents.values.filter { $0.healthy == true }.count
        let unhealthy = agents.values.filter { $0.healthy == false }.count
        if healthy != healthyCount || unhealthy != unhealthyCount {
            out.append("health counts \(healthyCount)/\(unhealthyCount), agents \(healthy)/\(unhealthy)")
        }
        let connected = agents.values.filter { $0.row.connected }.count
        let held = agents.values.filter { $0.isHeld(by: instance) }.count
        if connected != connectedCount || held != heldCount {
            out.append("connection counts \(connectedCount)/\(heldCount), agents \(connected)/\(held)")
        }
        var states: [ConfigState: Int] = [:]
        var stages: [String: [Int: StageCounts]] = [:]
        for state in agents.values {
            guard let track = state.track else { continue }
            states[track.state, default: 0] += 1
            if let pin = state.pin {
                stages[pin.rollout, default: [:]][pin.stage, default: StageCounts()].add(
                    track.state, unhealthy: track.state == .applied && state.healthy == false, 1)
            }
        }
        if states != configStates.filter({ $0.value != 0 }) {
            out.append("config states \(configStates), agents \(states)")
        }
        let kept = rollouts.mapValues { stages in
            stages.mapValues {
                var c = $0
                c.states = c.states.filter { $0.value != 0 }
                return c
            }
            .filter { $0.value.targets != 0 }
        }.filter { !$0.value.isEmpty }
        if stages != kept { out.append("rollout counts \(kept), agents \(stages)") }
        return out
    }
}
