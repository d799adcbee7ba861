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
