import Core

/// Tunables of the fleet service.
public struct FleetOptions: Sendable {
    /// This server's name in `owner` columns (one instance per process).
    public var instance: String
    /// Longest time a change waits before it is written.
    public var flushIntervalMilliseconds: Int = 100
    /// Rows that trigger a flush before the interval ends.
    public var batchRows: Int = 10_000
    /// History events kept while the database is unreachable; older ones are dropped (and counted).
    public var maxHistoryBacklog: Int = 1_000_000
    /// Largest config a PUT accepts, and the most bytes the files of one config version hold.
    public var maxConfigBytes: Int = 4 << 20
    /// Most files in one config version.
    public var maxConfigFiles = 1000
    /// A heartbeat's last-seen time is written at most this often per agent: in memory (and in
    /// the API) it is exact; the database catches up on any change, disconnect or shutdown, so
    /// only a crash leaves it this stale, and a fleet's heartbeats do not become row updates.
    public var lastSeenWriteIntervalMilliseconds: Int64 = 300_000
    /// Agents the inventory may hold; a new agent beyond it is turned away until room is made.
    public var maxAgents = 2_000_000
    /// A disconnected agent not seen for this long is forgotten, with its history (0: never).
    public var forgetAfterMilliseconds: Int64 = 30 * 86_400_000
    /// How often the retention sweep looks for agents to forget.
    public var retentionSweepMilliseconds: Int64 = 60_000
    /// Where log lines go.
    public var log: @Sendable (String) -> Void = { _ in }
    /// Wall-clock milliseconds since the Unix epoch; tests replace it to control time.
    public var clock: @Sendable () -> Int64 = WallClock.milliseconds
    /// The connection settings every agent is offered; an agent with a certificate from the CA
    /// gets them with its certificate added.
    public var connectionSettings: ConnectionSettingsOffers?
    /// The CA that signs agents' CSRs (nil: CSRs are not accepted).
    public var authority: CertificateAuthority?
    /// How long an agent may take to report a config applied or failed before it is `STALLED`.
    public var configApplyTimeoutMilliseconds: Int64 = 300_000
    /// Lifetime of the client certificates the CA issues; renewed at two thirds of it.
    public var agentCertificateLifetimeSeconds: Int64 = 30 * 86_400
    /// Events the live stream keeps for subscribers that fall behind or resume.
    public var eventBuffer = 524_288
    /// How long audit entries are kept (0: for ever).
    public var auditRetentionMilliseconds: Int64 = 400 * 86_400_000
    /// The custom capabilities this server announces to agents (reverse-FQDN names): custom
    /// messages agents send for them are kept for the operator API; others are ignored.
    public var customCapabilities: [String] = []

    /// Defaults for `instance`.
    /// How long a silent leader keeps the cluster's periodic work before another instance takes
    /// it (PostgreSQL ends the leader's session after this much silence).
    public var leaderLeaseMilliseconds: Int64 = 10_000
    /// How long an instance keeps its agents while the database is out of reach: after it, they
    /// are closed (1001) and reconnect to an instance that can record them.
    public var ownershipGraceMilliseconds: Int64 = 30_000
    /// The agent listener's address, shown in `GET /api/v1/instances`.
    public var address = ""

    public init(instance: String) { self.instance = instance }
}

/// An operator-facing failure: maps to an HTTP status and a stable code.
public struct FleetError: Error, Sendable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Sendable {
        /// The request is malformed or names something invalid (400/422).
        case invalid
        /// The thing asked for does not exist (404).
        case notFound
        /// The database is unreachable: nothing was acknowledged (503).
        case unavailable
        /// The request is larger than a limit (413).
        case tooLarge
        /// `If-Match` names a version that is no longer the newest (412).
        case preconditionFailed
        /// Another writer got there first; sending it again may succeed (409).
        case conflict
    }
    /// The class.
    public var kind: Kind
    /// Stable machine-readable code.
    public var code: String
    /// Human-readable message.
    public var message: String
    /// What the Toolkit found, when a config was refused for its content.
    public var findings: [ConfigFinding]?

    /// An error.
    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// One agent as the operator API lists it.
public struct AgentSummary: Sendable {
    /// Canonical UUID.
    public var instanceUID: String
    /// Held by a live connection of this server.
    public var connected: Bool
    /// Milliseconds since the Unix epoch.
    public var firstSeen: Int64
    /// Milliseconds since the Unix epoch.
    public var lastSeen: Int64
    /// Attributes (identifying first wins on a duplicate key), sorted by key.
    public var attributes: [(key: String, value: String)]
    /// `AgentCapabilities` bits.
    public var capabilities: UInt64
    /// Hex hash of the effective config, when reported.
    public var effectiveConfigHash: String?
    /// Hex hash, status name and error of the last remote config status, when reported.
    public var remoteConfigStatus: (hash: String, status: String, error: String)?
    /// `health.healthy`, when reported.
    public var healthy: Bool?
    /// Hex hash of the config the fleet wants the agent to run.
    public var desiredConfigHash: String?
    /// Where the agent stands with that config.
    public var configState: ConfigState?
    /// The agent's error (`FAILED`), or what it lacks (`INCOMPATIBLE`).
    public var configMessage: String = ""
    /// The instance whose connection holds the agent (nil: none).
    public var instance: String?
}

extension AgentSummary {
    /// An agent never heard from: nothing reported, nothing desired.
    public init(instanceUID: String) {
        self.instanceUID = instanceUID
        connected = false
        firstSeen = 0
        lastSeen = 0
        attributes = []
        capabilities = 0
    }
}

/// One agent in full.
public struct AgentDetail: Sendable {
    /// The summary fields.
    public var summary: AgentSummary
    /// Canonical protobuf JSON of the parts, when reported.
    public var descriptionJSON: String?
    /// True when long values or lists of the description were cut (see `BoundedRendering`).
    public var descriptionTruncated = false
    /// Canonical JSON of `health`.
    public var healthJSON: String?
    /// Canonical JSON of `package_statuses`.
    public var packageStatusesJSON: String?
    /// Canonical JSON of `custom_capabilities`.
    public var customCapabilitiesJSON: String?
    /// Canonical JSON of `connection_settings_status`.
    public var connectionSettingsStatusJSON: String?
    /// Hash of the available components.
    public var componentsHash: String?
    /// The server instance holding the agent.
    public var owner: String
    /// Server-side labels (from the enrollment token), which selectors name as `label:KEY`.
    public var labels: [String: String] = [:]
    /// True when an operator revoked the agent: it is refused until readmitted.
    public var revoked = false
    /// Newest first.
    public var history: [AgentEvent]
    /// False when the database could not be read: `history` then holds only unwritten events.
    public var historyComplete: Bool
}

/// One event of an agent's history, as the operator API shows it.
public struct AgentEvent: Sendable, Equatable {
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// `connected`, `disconnected`, `health_changed`, `effective_config_changed`,
    /// `remote_config_status_changed`, `description_changed`, `duplicate_uid`, …
    public var kind: String
    /// A short human-readable detail.
    public var detail: String
}

/// The current version of a named config.
public struct ConfigVersion: Sendable, Equatable {
    /// Operator-chosen name.
    public var name: String
    /// Hex SHA-256 of the config map.
    public var hash: String
    /// Increases with every PUT that changes the content.
    public var version: Int64
    /// Milliseconds since the Unix epoch.
    public var updatedAt: Int64
}

/// One config version assigned to the agents a selector (or a uid list) picks.
public struct Assignment: Sendable, Equatable {
    /// Server-chosen id.
    public var id: String
    /// Config name.
    public var config: String
    /// Hex hash pinned when the assignment was made.
    public var hash: String
    /// Attribute pairs that must all match (empty: every agent).
    public var selector: [String: String]
    /// Explicit agents (canonical UUIDs); when non-empty they replace the selector.
    public var uids: [String]
    /// Order of creation; a later assignment wins for an agent both select.
    public var sequence: Int64
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
}

/// A filtered page of agents.
public struct AgentQuery: Sendable {
    /// Only connected / only disconnected.
    public var connected: Bool?
    /// Attribute pairs that must all match.
    public var attributes: [String: String] = [:]
    /// Page size.
    public var limit = 100
    /// The uid after which the page starts.
    public var cursor: String?
    /// Only agents in this config state.
    public var configState: ConfigState?
    /// Only healthy (true) or unhealthy (false) agents.
    public var healthy: Bool?
    /// Only agents whose uid or an attribute value contains this text (ignoring case).
    public var search: String?
    /// Server-side labels (given at enrollment) that must all match.
    public var labels: [String: String] = [:]
    /// Only the members of this group (its selector joins the filter).
    public var group: String?
    /// The order of the pages.
    public var sort = AgentSort.uid

    /// Everything, first page.
    public init() {}
}

/// The order of an agent listing: a field, ascending or descending, ties broken by uid (so
/// that a cursor names one place in the order).
public struct AgentSort: Sendable, Equatable {
    /// What a listing can be ordered by: fields every agent has, so that no agent drops out.
    public enum Field: String, Sendable, CaseIterable {
        /// The instance uid.
        case uid
        /// When the agent was first seen.
        case firstSeen
        /// When the agent was last heard from.
        case lastSeen
    }

    /// The field.
    public var field: Field
    /// Largest first.
    public var descending: Bool

    /// By uid, ascending: the default.
    public static let uid = AgentSort(field: .uid, descending: false)

    /// A sort by `field`.
    public init(field: Field, descending: Bool) {
        self.field = field
        self.descending = descending
    }

    /// Parses `lastSeen` or `-lastSeen` (descending); nil for anything else.
    public init?(_ text: String) {
        let descending = text.hasPrefix("-")
        guard let field = Field(rawValue: descending ? String(text.dropFirst()) : text) else { return nil }
        self.init(field: field, descending: descending)
    }

    /// The query parameter's form.
    public var text: String { (descending ? "-" : "") + field.rawValue }

    /// Every accepted value, for an error message.
    public static var accepted: [String] { Field.allCases.flatMap { [$0.rawValue, "-" + $0.rawValue] } }
}

/// A place in a sorted listing: the last item of a page, as the cursor the next page starts
/// after. By uid the cursor is the uid itself; by a time it is `MILLIS_UID`.
public struct AgentCursor: Sendable, Equatable {
    /// The sort field's value at that place (0 when sorting by uid).
    public var key: Int64
    /// The uid at that place.
    public var uid: InstanceUID

    /// A cursor at (`key`, `uid`).
    public init(key: Int64, uid: InstanceUID) {
        self.key = key
        self.uid = uid
    }

    /// Parses a cursor this API gave out for `sort`; nil for anything else.
    public init?(_ text: String, sort: AgentSort) {
        if sort.field == .uid {
            guard let uid = InstanceUID(string: text) else { return nil }
            self.init(key: 0, uid: uid)
            return
        }
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let key = Int64(parts[0]), let uid = InstanceUID(string: String(parts[1])) else {
            return nil
        }
        self.init(key: key, uid: uid)
    }

    /// The text form for `sort`.
    public func text(for sort: AgentSort) -> String {
        sort.field == .uid ? uid.description : "\(key)_\(uid)"
    }
}

/// How many agents are in each state: the numbers of an overview.
public struct AgentFacets: Sendable, Equatable {
    /// Agents in the inventory.
    public var total = 0
    /// Held by a live connection.
    public var connected = 0
    /// Reported healthy.
    public var healthy = 0
    /// Reported unhealthy.
    public var unhealthy = 0
    /// Agents per config state (those with nothing desired are not counted).
    public var configStates: [ConfigState: Int] = [:]
}

/// A page of agents.
public struct AgentPage: Sendable {
    /// The agents.
    public var items: [AgentSummary]
    /// Agents matching the filter in all pages.
    public var total: Int
    /// Cursor for the next page; nil on the last.
    public var nextCursor: String?
}

/// Progress of one assignment.
public struct AssignmentStatus: Sendable {
    /// The assignment.
    public var assignment: Assignment
    /// Capable agents this assignment is the winning one for.
    public var targets = 0
    /// Of those, reporting APPLIED with the assignment's hash.
    public var applied = 0
    /// Reporting APPLYING with the hash.
    public var applying = 0
    /// Reporting FAILED with the hash.
    public var failed = 0
    /// Not yet reporting anything about the hash.
    public var pending = 0
}

/// Counters for /metrics.
public struct FleetMetrics: Sendable {
    /// Agents in the inventory.
    public var agentsKnown = 0
    /// Agents held by a live connection.
    public var agentsConnected = 0
    /// Agent rows waiting to be written.
    public var backlogAgents = 0
    /// History events waiting to be written.
    public var backlogHistory = 0
    /// Liveness-only updates waiting to be written.
    public var backlogTouches = 0
    /// Successful flushes.
    public var flushes = 0
    /// Failed flush attempts (retried).
    public var flushFailures = 0
    /// Rows written.
    public var rowsWritten = 0
    /// Duration of the last successful flush.
    public var lastFlushSeconds = 0.0
    /// Sum of flush durations.
    public var flushSecondsTotal = 0.0
    /// History events dropped because the backlog was full during an outage.
    public var historyDropped = 0
    /// False while the database is failing.
    public var storeHealthy = true
    /// The heap SQLite holds in this process, its page cache included (0 on PostgreSQL).
    public var sqliteHeapBytes = 0
    /// Agents asked to take a new desired state.
    public var pushesRequested = 0
    /// Messages received from agents (changes and heartbeats).
    public var changesIngested = 0
    /// Messages that changed something (connections, status, health, config state): heartbeats
    /// with nothing new are not counted.
    public var statusChangesIngested = 0
    /// CPU time the ingest thread spent applying status changes (inventory, config states and
    /// rollout counters, the hand-over to the writer); heartbeats are not included.
    public var ingestCPUSeconds = 0.0
    /// CPU time the rollout controller's passes took (stalls, gates, stage starts).
    public var controllerCPUSeconds = 0.0
    /// Connections closed because another instance had bound their uid to another identity
    /// first (see `Identities`).
    public var identityConflicts = 0
    /// Agents forgotten by the retention policy.
    public var agentsForgotten = 0
    /// Agent rows the ownership fence refused: this instance's late writes for agents whose
    /// newer connection another instance holds.
    public var fencedWrites = 0
    /// 1 while this instance holds the cluster's leadership (always, with SQLite).
    public var leader = true
    /// The cluster leader's fencing token while this instance leads (0 otherwise).
    public var leaderToken: Int64 = 0
}

extension RemoteConfigStatuses {
    /// `APPLIED`, `APPLYING`, `FAILED` or `UNSET`.
    var apiName: String {
        switch self {
        case .applied: "APPLIED"
        case .applying: "APPLYING"
        case .failed: "FAILED"
        default: "UNSET"
        }
    }
}

extension AgentEvent {
    init(_ row: HistoryRow) { self.init(at: row.at, kind: row.kind, detail: row.detail) }
}

extension ConfigVersion {
    init(_ row: ConfigRow) { self.init(name: row.name, hash: row.hash, version: row.version, updatedAt: row.updatedAt) }
}

extension Assignment {
    init(_ row: AssignmentRow) {
        self.init(
            id: row.id, config: row.config, hash: row.hash, selector: row.selector, uids: row.uids,
            sequence: row.sequence, createdAt: row.createdAt)
    }
}
