import Core
import Synchronization

/// `InventoryState.heldCount`, readable without the inventory's lock: the cluster heartbeat
/// reports it, and must not wait behind a walk of the fleet.
final class HeldCount: Sendable {
    let value = Atomic<Int>(0)
}

/// Per assignment, how many capable agents it wins and how far they are.
struct ProgressCounts {
    var targets = 0
    var applied = 0
    var applying = 0
    var failed = 0
}

/// The agents the fleet holds, with the counters kept as they change (connected agents,
/// assignment progress), so /metrics and a progress poll never walk the fleet.
struct InventoryState {
    var agents: [InstanceUID: AgentState] = [:]
    /// Agents with `connected` set (by any instance).
    var connectedCount = 0
    /// Of those, the ones this instance's connections hold.
    var heldCount = 0 {
        didSet { heldMirror.value.store(heldCount, ordering: .relaxed) }
    }
    let heldMirror = HeldCount()
    /// This instance's id (`AgentRow.owner` of the agents it holds).
    var instance = ""
    /// Agents that reported themselves healthy, and unhealthy.
    var healthyCount = 0
    var unhealthyCount = 0
    var progress: [String: ProgressCounts] = [:]
    /// Agents per config state, over the fleet.
    var configStates: [ConfigState: Int] = [:]
    /// Agents per config state, by the hash they are tracked towards: a config's counts are
    /// those of its versions' hashes. Hashes no agent is tracked towards are dropped.
    var configStatesByTarget: [String: [ConfigState: Int]] = [:]
    /// Per rollout, per stage: how its agents stand.
    var rollouts: [String: [Int: StageCounts]] = [:]
    /// Agents that entered `APPLYING`, by the tenth of a second their apply timeout ends in
    /// (rounded up): the stall check looks at the tenths that passed, never at the fleet (entries
    /// may be stale; each is checked against the agent's track). An agent stalls at most a
    /// tenth of a second (and a controller pass) after its timeout.
    var applyDeadlines: [Int64: [InstanceUID]] = [:]
    /// Component names (`receivers/otlp`) by the hash agents report them under.
    var componentSets: [String: Set<String>] = [:]
    /// How long an agent may stay `APPLYING` before it is `STALLED`.
    var applyTimeout: Int64 = 300_000
    /// Agents that had gone back from a config when the inventory was loaded, with that config:
    /// the first track built for it there stays `ROLLED_BACK` (while the agent's row still says
    /// so). Only at load: in memory the track itself remembers, and a new rollout of the config
    /// offers it again.
    var rolledBackAtLoad: [InstanceUID: String] = [:]

    /// The facts listings filter on, kept with every store and removal below.
    private(set) var index = ListIndex()

    /// Stores an agent's new state (`before` is the state stored now, nil for a new agent)
    /// and moves it between the counters and in the list index.
    mutating func replace(_ uid: InstanceUID, _ before: AgentState?, with new: AgentState) {
        var state = new
        let previous = before.map { Counted($0, instance: instance) }
        if let previous { count(previous, -1) }
        if let before, before.slot >= 0 {
            state.slot = before.slot
            index.update(state.slot, state, attributesChanged: !Self.sameStorage(before.attributes, state.attributes))
        } else {
            state.slot = index.append(uid, state)
        }
        agents[uid] = state
        let now = Counted(state, instance: instance)
        count(now, 1)
        noteDeadline(uid, previous, now)
    }

    /// Changes the agent at `position` of `agents` in place, keeping the counters, the list index
    /// and the stall deadlines with it. At a million agents a state copied out of the dictionary
    /// and stored back costs a second lookup and a retain and release of every object it holds,
    /// most of them cold in cache; this reads only what the counters follow.
    mutating func update<R>(
        at position: Dictionary<InstanceUID, AgentState>.Index, _ body: (inout AgentState) throws -> R
    ) rethrows -> R {
        let instance = self.instance
        let previous = agents.values[position].counted(instance: instance)
        let result = try body(&agents.values[position])
        let now = agents.values[position].counted(instance: instance)
        count(previous, -1)
        count(now, 1)
        if previous.facts != now.facts || previous.firstSeen != now.firstSeen || previous.lastSeen != now.lastSeen
            || !previous.sameAttributes(as: now)
        {
            let slot = agents.values[position].slot
            index.update(slot, now.facts, firstSeen: now.firstSeen, lastSeen: now.lastSeen)
            if !previous.sameAttributes(as: now) { index.rehash(slot, agents.values[position].attributeDigest()) }
        }
        noteDeadline(agents.keys[position], previous, now)
        return result
    }

    /// Reads the agent at `position` of `agents` in place (a getter would copy the whole state).
    /// `body` must not change what `update(at:_:)` keeps counters of.
    mutating func peek<R>(at position: Dictionary<InstanceUID, AgentState>.Index, _ body: (inout AgentState) -> R) -> R
    {
        body(&agents.values[position])
    }

    /// An agent that entered `APPLYING` is due for the stall check when its apply timeout ends.
    private mutating func noteDeadline(_ uid: InstanceUID, _ before: Counted?, _ now: Counted) {
        guard let track = now.track, track.state == .applying, before?.track != track else { return }
        applyDeadlines[Self.deadlineSlot(track.since + applyTimeout), default: []].append(uid)
    }

    /// The `applyDeadlines` key of a deadline (milliseconds): due once `now / 100` reaches it,
    /// which is never before the deadline.
    static func deadlineSlot(_ deadline: Int64) -> Int64 { (deadline + 99) / 100 }

    /// Removes an agent and its share of the counters.
    mutating func remove(_ uid: InstanceUID) {
        guard let state = agents.removeValue(forKey: uid) else { return }
        count(Counted(state, instance: instance), -1)
        if let moved = index.remove(state.slot) { agents[moved]?.slot = state.slot }
    }

    /// A heartbeat of the agent at `index` of `agents`, in place.
    mutating func seen(at index: Dictionary<InstanceUID, AgentState>.Index, now: Int64) {
        self.index.touch(agents.values[index].seen(at: now), lastSeen: now)
    }

    /// Whether two attribute lists are one array (not changed since one was copied from the
    /// other): the hashes of unchanged attributes are not computed again for every change.
    private static func sameStorage(_ a: [(key: String, value: String)], _ b: [(key: String, value: String)]) -> Bool {
        a.count == b.count
            && a.span.isIdentical(to: b.span)
    }

    private mutating func countTarget(_ track: ConfigTrack, _ delta: Int) {
        // Taken out and put back, so the inner dictionary is changed in place, not copied.
        var counts = configStatesByTarget.removeValue(forKey: track.target) ?? [:]
        let left = counts[track.state, default: 0] + delta
        counts[track.state] = left == 0 ? nil : left
        if !counts.isEmpty { configStatesByTarget[track.target] = counts }
    }

    private mutating func count(_ state: Counted, _ delta: Int) {
        if state.connected {
            connectedCount += delta
            if state.held { heldCount += delta }
        }
        switch state.healthy {
        case true?: healthyCount += delta
        case false?: unhealthyCount += delta
        case nil: break
        }
        if let track = state.track {
            configStates[track.state, default: 0] += delta
            countTarget(track, delta)
            if let pin = state.pin {
                let unhealthy = track.state == .applied && state.healthy == false
                rollouts[pin.rollout, default: [:]][pin.stage, default: StageCounts()].add(
                    track.state, unhealthy: unhealthy, delta)
            }
        }
        guard let id = state.assignment else { return }
        progress[id, default: ProgressCounts()].targets += delta
        switch state.assignmentStatus {
        case .applied: progress[id, default: ProgressCounts()].applied += delta
        case .applying: progress[id, default: ProgressCounts()].applying += delta
        case .failed: progress[id, default: ProgressCounts()].failed += delta
        default: break
        }
    }
}

/// What the counters, the list index and the stall deadlines follow of one agent's state: taken
/// before and after a change, so that the change can be made in place.
struct Counted {
    var connected: Bool
    /// Connected through this instance.
    var held: Bool
    var healthy: Bool?
    var track: ConfigTrack?
    var pin: RolloutPin?
    /// The assignment that chose the desired config (nil: none, or the agent cannot take remote
    /// config), and the agent's report for that config (nil: it reported another one).
    var assignment: String?
    var assignmentStatus: RemoteConfigStatuses?
    var facts: ListIndex.Facts
    var firstSeen: Int64
    var lastSeen: Int64
    /// `AgentState.attributesVersion`: unchanged attributes keep their hashes.
    var attributes: UInt32

    init(_ state: AgentState, instance: String) {
        connected = state.row.connected
        held = state.row.connected && state.row.owner == instance
        healthy = state.healthy
        track = state.track
        pin = state.pin
        if let id = state.desiredAssignment, let hash = state.desiredHash,
            state.capabilities.contains(.acceptsRemoteConfig)
        {
            assignment = id
            assignmentStatus = state.remoteHash == hash ? state.remoteStatus : nil
        }
        facts = ListIndex.Facts(state)
        firstSeen = state.row.firstSeen
        lastSeen = state.row.lastSeen
        attributes = state.attributesVersion
    }

    /// Whether the attributes were left alone since `other` was taken.
    func sameAttributes(as other: Counted) -> Bool { attributes == other.attributes }
}

extension AgentState {
    // `mutating` although they change nothing: called on `agents.values[position]` they reach
    // the state in place (see `passes`).

    /// What the counters follow of this state.
    mutating func counted(instance: String) -> Counted { Counted(self, instance: instance) }

    /// The attribute hashes the list index keeps.
    mutating func attributeDigest() -> SIMD8<Int32> { ListIndex.digest(attributes) }
}
