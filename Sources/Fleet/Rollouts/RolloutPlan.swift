import Core

/// Which agents a rollout is for.
public enum RolloutTarget: Sendable, Equatable, Codable {
    /// Agents whose attributes (or `label:KEY` labels) match every pair.
    case selector([String: String])
    /// The agents of a saved group (its selector, at the time the rollout is created).
    case group(String)
    /// These agents.
    case uids([String])
}

/// One stage of a rollout: which of the remaining targets it takes.
public enum RolloutStage: Sendable, Equatable, Codable {
    /// The remaining targets that match (a canary by attribute or label).
    case selector([String: String])
    /// Up to this percentage of all targets, counted from the start (stages 1, 10, 50, 100).
    case percent(Double)
    /// This many more targets.
    case count(Int)
}

/// A gate's limit: a number of agents, or a percentage of the stage.
public struct GateLimit: Sendable, Equatable, Codable {
    /// At most this many agents.
    public var count: Int?
    /// At most this percentage of the stage's agents.
    public var percent: Double?

    /// A limit from its API text: `5` or `"2%"`; nil when it is neither.
    public static func parse(_ value: Any) -> GateLimit? {
        if let number = value as? Int, number >= 0 { return GateLimit(count: number) }
        if let text = value as? String, text.hasSuffix("%"), let p = Double(text.dropLast()), p >= 0, p <= 100 {
            return GateLimit(percent: p)
        }
        return nil
    }

    /// True when `observed` of `total` agents is over the limit.
    func isExceeded(by observed: Int, of total: Int) -> Bool {
        if let count { return observed > count }
        if let percent { return Double(observed) > percent / 100 * Double(total) }
        return false
    }

    /// The limit in words.
    var description: String {
        if let count { return String(count) }
        if let percent { return "\(percent)%" }
        return "none"
    }
}

/// The health gates of every stage: a stage over any of them pauses the rollout.
public struct RolloutGates: Sendable, Equatable, Codable {
    /// Agents that report the config failed.
    public var maxFailed: GateLimit?
    /// Agents that applied it and then report unhealthy.
    public var maxUnhealthy: GateLimit?
    /// Agents with no outcome within the apply timeout.
    public var maxStalled: GateLimit?

    /// No gates.
    public init(maxFailed: GateLimit? = nil, maxUnhealthy: GateLimit? = nil, maxStalled: GateLimit? = nil) {
        self.maxFailed = maxFailed
        self.maxUnhealthy = maxUnhealthy
        self.maxStalled = maxStalled
    }
}

/// What an operator asked for: a published config version, its targets, stages, soak and gates.
public struct RolloutSpec: Sendable, Equatable, Codable {
    /// The config's name.
    public var config: String
    /// The published version rolled out.
    public var version: Int64
    /// Its content hash (hex).
    public var hash: String
    /// The agents it is for.
    public var target: RolloutTarget
    /// Its stages, in order (empty: one stage of everything).
    public var stages: [RolloutStage]
    /// Seconds a finished stage is watched before the next starts.
    public var soakSeconds: Int64
    /// The gates of every stage.
    public var gates: RolloutGates

    /// A spec.
    public init(
        config: String, version: Int64, hash: String, target: RolloutTarget, stages: [RolloutStage] = [],
        soakSeconds: Int64 = 0, gates: RolloutGates = RolloutGates()
    ) {
        self.config = config
        self.version = version
        self.hash = hash
        self.target = target
        self.stages = stages
        self.soakSeconds = soakSeconds
        self.gates = gates
    }
}

/// Where a rollout is.
public enum RolloutState: String, Sendable, Codable {
    /// Created, no stage started.
    case pending
    /// A stage is being applied or soaked.
    case running
    /// Stopped by a gate or an operator; `resume` goes on with the same stage.
    case paused
    /// Every stage done.
    case completed
    /// Stopped for good by an operator; agents keep what they got.
    case aborted
    /// Undone: its agents were given back what they ran before.
    case rolledBack = "rolled_back"
}

/// How the agents of one stage (or a whole rollout) stand, kept as their states change.
public struct StageCounts: Sendable, Equatable {
    /// Agents in the stage.
    public var targets = 0
    /// Agents per config state.
    public var states: [ConfigState: Int] = [:]
    /// Agents that applied the config and then reported unhealthy.
    public var unhealthy = 0

    /// Agents in `state`.
    public subscript(_ state: ConfigState) -> Int { states[state] ?? 0 }

    mutating func add(_ state: ConfigState, unhealthy isUnhealthy: Bool, _ delta: Int) {
        targets += delta
        states[state, default: 0] += delta
        if isUnhealthy { unhealthy += delta }
    }

    /// The counts a gate discounts, as stored: `failed,rolledBack,stalled,unhealthy`.
    var gateBaseline: String {
        guard self[.failed] + self[.rolledBack] + self[.stalled] + unhealthy > 0 else { return "" }
        return [self[.failed], self[.rolledBack], self[.stalled], unhealthy].map(String.init).joined(separator: ",")
    }

    /// No agents.
    init() {}

    /// Counts read back from `gateBaseline` (zeros for '' or anything unreadable).
    init(gateBaseline text: String) {
        let numbers = text.split(separator: ",").compactMap { Int($0) }
        guard numbers.count == 4 else { return }
        states = [.failed: numbers[0], .rolledBack: numbers[1], .stalled: numbers[2]]
        unhealthy = numbers[3]
    }

    /// Sums stages.
    mutating func add(_ other: StageCounts) {
        targets += other.targets
        unhealthy += other.unhealthy
        for (state, n) in other.states { states[state, default: 0] += n }
    }
}

/// The pure part of rollouts: splitting targets into stages and deciding, from a stage's
/// counts and the time, what the controller does next.
enum RolloutPlan {
    /// The targets split into stages, each in uid order. Targets no stage takes form a last
    /// stage; stages that take nobody are kept (their gates pass at once) so that stage
    /// numbers match the request.
    static func split(
        _ targets: [(uid: InstanceUID, attributes: [(key: String, value: String)])], stages: [RolloutStage]
    ) -> [[InstanceUID]] {
        let ordered = targets.sorted { ($0.uid.high, $0.uid.low) < ($1.uid.high, $1.uid.low) }
        guard !stages.isEmpty else { return [ordered.map(\.uid)] }
        var taken = [Bool](repeating: false, count: ordered.count)
        var assigned = 0
        var out: [[InstanceUID]] = []
        for stage in stages {
            var members: [InstanceUID] = []
            func take(_ i: Int) {
                taken[i] = true
                assigned += 1
                members.append(ordered[i].uid)
            }
            switch stage {
            case .selector(let selector):
                for i in ordered.indices where !taken[i] && AgentState.matches(ordered[i].attributes, selector) {
                    take(i)
                }
            case .percent(let p):
                let goal = min(ordered.count, Int((p / 100 * Double(ordered.count)).rounded(.up)))
                var i = 0
                while assigned < goal && i < ordered.count {
                    if !taken[i] { take(i) }
                    i += 1
                }
            case .count(let n):
                var i = 0
                var left = n
                while left > 0 && i < ordered.count {
                    if !taken[i] {
                        take(i)
                        left -= 1
                    }
                    i += 1
                }
            }
            out.append(members)
        }
        let rest = ordered.indices.filter { !taken[$0] }.map { ordered[$0].uid }
        if !rest.isEmpty { out.append(rest) }
        return out
    }

    /// What the controller does with a running rollout next.
    enum Step: Equatable {
        /// Wait.
        case none
        /// A gate tripped: pause with this reason.
        case pause(String)
        /// The stage has no agent left applying: note when, its soak starts.
        case stageDone
        /// The soak is over: start this stage.
        case advance(Int)
        /// The last stage's soak is over.
        case complete
    }

    /// The next step for a running rollout at `stage` of `stageCount`, whose stage finished at
    /// `doneAt` (nil: not yet), given the stage's counts.
    static func step(
        stage: Int, stageCount: Int, doneAt: Int64?, counts: StageCounts, gates: RolloutGates, soakMilliseconds: Int64,
        now: Int64
    ) -> Step {
        let total = counts.targets
        let checks: [(String, GateLimit?, Int)] = [
            ("failed", gates.maxFailed, counts[.failed] + counts[.rolledBack]),
            ("unhealthy", gates.maxUnhealthy, counts.unhealthy),
            ("stalled", gates.maxStalled, counts[.stalled]),
        ]
        for (what, limit, observed) in checks {
            if let limit, limit.isExceeded(by: observed, of: total) {
                return .pause(
                    "stage \(stage + 1): \(observed) of \(total) agents \(what), over the gate of \(limit.description)")
            }
        }
        // Disconnected agents (pending) get the config when they come back; they do not hold
        // the rollout. Agents still applying do, until they apply, fail or stall.
        guard counts[.applying] == 0 else { return .none }
        guard let doneAt else { return .stageDone }
        guard now - doneAt >= soakMilliseconds else { return .none }
        return stage + 1 < stageCount ? .advance(stage + 1) : .complete
    }
}
