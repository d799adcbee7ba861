/// One server instance as the operator API shows it.
public struct InstanceInfo: Sendable, Equatable {
    /// `--instance-id`.
    public var id: String
    /// Its agent listener.
    public var address: String
    /// Milliseconds since the Unix epoch.
    public var startedAt: Int64
    /// Milliseconds since the Unix epoch.
    public var lastHeartbeat: Int64
    /// Agents its connections held at its last heartbeat.
    public var agents: Int64
    /// Does the cluster's periodic work.
    public var leader: Bool
    /// Its heartbeat is younger than two leader leases.
    public var alive: Bool
}

extension FleetService {
    /// Every instance registered in the database (blocking: call it off the async executor).
    public func instances() throws(StoreError) -> [InstanceInfo] {
        let now = options.clock()
        let leader = try store.leader()
        let rows = try store.instances()
        let alone = cluster == nil
        return rows.map { row in
            let own = row.id == options.instance && row.epoch == epoch
            // Alone (SQLite, or no cluster session), this process is the one that beats: its
            // row's heartbeat is its start.
            let alive = own || now - row.lastHeartbeat < 2 * options.leaderLeaseMilliseconds
            let leading = alone ? own : (row.id == leader.instance && alive)
            return InstanceInfo(
                id: row.id, address: row.address, startedAt: row.startedAt,
                lastHeartbeat: own && alone ? now : row.lastHeartbeat,
                agents: own ? Int64(inventory.held) : row.agents, leader: leading, alive: alive)
        }
    }
}
