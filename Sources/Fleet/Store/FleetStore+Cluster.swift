/// One server process as the `instances` table records it.
public struct InstanceRow: Sendable, Equatable {
    /// `--instance-id`.
    public var id: String
    /// Where its agent listener is (`host:port`), for operators.
    public var address: String
    /// The process's epoch: a restart under the same id draws a new one.
    public var epoch: Int64
    /// Milliseconds since the Unix epoch.
    public var startedAt: Int64
    /// Milliseconds since the Unix epoch.
    public var lastHeartbeat: Int64
    /// Agents its connections held at the last heartbeat.
    public var agents: Int64

    /// An instance row.
    public init(id: String, address: String, epoch: Int64, startedAt: Int64, lastHeartbeat: Int64, agents: Int64) {
        self.id = id
        self.address = address
        self.epoch = epoch
        self.startedAt = startedAt
        self.lastHeartbeat = lastHeartbeat
        self.agents = agents
    }
}

/// What one instance asks of others (see `FleetService.forward`).
enum ClusterActionKind: String, Sendable {
    /// An operator's command for agents the target holds (the body is its `AgentCommandKind`).
    case command
    /// A custom message for an agent the target holds (the body is the encoded message, hex).
    case custom
    /// A revocation or a readmission: read the refused identities and agents again, close the
    /// agents named if held.
    case revoke
    /// The identity bindings of these agents were removed or replaced: read them again.
    case identities
    /// Enrollment or access tokens were created or revoked through the API: read them again.
    case tokens
    /// These agents were given labels (by their enrollment token): read them again.
    case labels
    /// Configs, versions, assignments or groups changed.
    case catalogue
    /// Rollouts changed (the body names them; see `FleetService.reloadRollouts`).
    case rollouts
    /// Certificates were issued or renewed for these agents: read them, offer them if held.
    case certificates
}

/// An operator action for another instance, as stored.
struct ClusterActionRow: Sendable, Equatable {
    var sender: String
    var target: String
    /// A `ClusterActionKind` (text: a newer server's kinds are ignored, not an error).
    var kind: String
    var uids: [String]
    var body: String
    /// Its id in `cluster_actions` (0 before it is stored).
    var id: Int64 = 0
}

/// Which actions a `PeerFeed` has carried out, so that those posted while it was not listening
/// (before its first LISTEN, or while its session was broken) are read once and only once.
struct ActionCursor: Sendable {
    /// How far below the highest id handled a catch-up reads again: ids are drawn at insert and
    /// seen at commit, so concurrent posts may commit out of order.
    static let window: Int64 = 1000
    /// The highest id handled (or, at first, the newest id before this instance loaded its state).
    private(set) var mark: Int64
    private var handled: Set<Int64> = []
    private var caughtUpOnce = false

    init(mark: Int64) { self.mark = mark }

    /// The id after which a catch-up reads: the mark itself the first time (what came before
    /// it is in the state this instance loaded), a window below it after a gap.
    mutating func catchUpFloor() -> Int64 {
        defer { caughtUpOnce = true }
        return caughtUpOnce ? mark - Self.window : mark
    }

    /// True the first time `id` is offered (then it counts as handled).
    mutating func take(_ id: Int64) -> Bool {
        guard id > mark - Self.window, handled.insert(id).inserted else { return false }
        if id > mark {
            mark = id
            handled = handled.filter { $0 > mark - Self.window }
        }
        return true
    }
}

/// Who holds the cluster's periodic work, and the fencing token of that tenure.
public struct LeaderRow: Sendable, Equatable {
    /// The leading instance's id ('' before any has led).
    public var instance: String
    /// Increases with every change of leader.
    public var token: Int64
    /// Milliseconds since the Unix epoch.
    public var since: Int64
}

// Several instances on one database (docs/ARCHITECTURE.md, "Several instances"): a few rows
// per instance, written every heartbeat, in SQL both backends accept.
extension FleetStore {
    /// A new epoch for a starting process: every start draws a larger one.
    func drawEpoch() throws(StoreError) -> Int64 {
        let rows = try select("UPDATE cluster_epochs SET value = value + 1 WHERE id = 1 RETURNING value", [])
        guard let value = rows.first?[0].flatMap({ Int64($0) }) else {
            throw StoreError(.failed, "cluster_epochs has no row")
        }
        return value
    }

    /// Records this process under `id` (replacing an earlier process of the same id).
    func registerInstance(_ row: InstanceRow) throws(StoreError) {
        try execute([
            (
                """
                INSERT INTO instances (id, address, epoch, started_at, last_heartbeat, agents)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO UPDATE SET address = excluded.address, epoch = excluded.epoch,
                    started_at = excluded.started_at, last_heartbeat = excluded.last_heartbeat,
                    agents = excluded.agents
                """,
                [
                    row.id, row.address, String(row.epoch), String(row.startedAt), String(row.lastHeartbeat),
                    String(row.agents),
                ]
            )
        ])
    }

    /// This process's heartbeat; false when a newer process registered under the same id.
    func heartbeat(id: String, epoch: Int64, agents: Int, now: Int64) throws(StoreError) -> Bool {
        let rows = try select(
            "UPDATE instances SET last_heartbeat = $3, agents = $4 WHERE id = $1 AND epoch = $2 RETURNING id",
            [id, String(epoch), String(now), String(agents)])
        return !rows.isEmpty
    }

    /// Every instance that ever registered, by id.
    func instances() throws(StoreError) -> [InstanceRow] {
        try select("SELECT id, address, epoch, started_at, last_heartbeat, agents FROM instances ORDER BY id", [])
            .map { r in
                InstanceRow(
                    id: r[0] ?? "", address: r[1] ?? "", epoch: Int64(r[2] ?? "") ?? 0,
                    startedAt: Int64(r[3] ?? "") ?? 0, lastHeartbeat: Int64(r[4] ?? "") ?? 0,
                    agents: Int64(r[5] ?? "") ?? 0)
            }
    }

    /// The current leader.
    func leader() throws(StoreError) -> LeaderRow {
        let r = try select("SELECT instance, token, since FROM cluster_leader WHERE id = 1", []).first
        return LeaderRow(
            instance: r?[0] ?? "", token: Int64(r?[1] ?? "") ?? 0, since: Int64(r?[2] ?? "") ?? 0)
    }

    /// Records `instance` as the leader and returns its tenure's fencing token (the caller holds
    /// the leadership lock).
    func takeLeadership(instance: String, now: Int64) throws(StoreError) -> Int64 {
        let rows = try select(
            "UPDATE cluster_leader SET instance = $1, token = token + 1, since = $2 WHERE id = 1 RETURNING token",
            [instance, String(now)])
        guard let token = rows.first?[0].flatMap({ Int64($0) }) else {
            throw StoreError(.failed, "cluster_leader has no row")
        }
        return token
    }

    /// Agents still marked connected by instances that stopped beating: disconnected now (the
    /// leader's work, so they are not shown connected for ever when their instance died).
    func releaseAgents(ofInstancesSilentSince cutoff: Int64) throws(StoreError) -> Int {
        let rows = try select(
            """
            UPDATE agents SET connected = 0 WHERE connected <> 0
                AND owner IN (SELECT id FROM instances WHERE last_heartbeat < $1) RETURNING uid
            """, [String(cutoff)])
        return rows.count
    }

    /// The newest announcement and action now (0 when none): a later prune deletes up to them.
    func changeMarks() throws(StoreError) -> PruneMarks.Mark {
        let r = try select(
            """
            SELECT (SELECT COALESCE(MAX(revision), 0) FROM agent_changes),
                (SELECT COALESCE(MAX(id), 0) FROM cluster_actions)
            """, []
        ).first
        return PruneMarks.Mark(changes: Int64(r?[0] ?? "") ?? 0, actions: Int64(r?[1] ?? "") ?? 0)
    }

    /// Announcements and actions up to `mark` are no longer needed (the leader's work). By the
    /// keys, not the times: a delete by time read every row each time.
    func pruneChanges(through mark: PruneMarks.Mark) throws(StoreError) {
        try execute([
            ("DELETE FROM agent_changes WHERE revision <= $1", [String(mark.changes)]),
            ("DELETE FROM cluster_actions WHERE id <= $1", [String(mark.actions)]),
        ])
    }

    /// Whether another instance beat within `window` milliseconds of `now`.
    func peersAlive(besides instance: String, now: Int64, window: Int64) throws(StoreError) -> Bool {
        !(try select(
            "SELECT 1 FROM instances WHERE id <> $1 AND last_heartbeat > $2 LIMIT 1", [instance, String(now - window)]
        ).isEmpty)
    }
}
