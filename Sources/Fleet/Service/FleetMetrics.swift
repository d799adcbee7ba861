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
