import CLibPQ
import Glibc

/// The leadership lock: a session-level advisory lock, so PostgreSQL itself frees it when the
/// holder's session ends (its process died, or it went silent past the lease).
extension PostgresStore {
    /// The advisory lock key of the cluster's leadership.
    static let leadershipKey: Int64 = 7_305_228_392

    /// A connection of its own for heartbeats and the leadership lock: a session PostgreSQL ends
    /// after `leaseMilliseconds` of silence, which frees the lock for another instance. The
    /// setting is in the connection string, so a session rebuilt after a lost connection has
    /// it too.
    public static func clusterSession(url: String, leaseMilliseconds: Int64) throws(StoreError) -> PostgresStore {
        let settings =
            "options=-c%20idle_session_timeout%3D\(max(1000, leaseMilliseconds))&application_name=ampora-cluster"
        return try PostgresStore(url: url + (url.contains("?") ? "&" : "?") + settings)
    }

    /// Makes each batch announce the agents it changed, as `instance` (nil: stop); the cluster
    /// thread turns it on while other instances are alive.
    public func announceBatches(as instance: String?) {
        announcer.withLock { $0 = instance }
    }

    /// Another session on the same database (for a thread that must not wait behind this one).
    public func sibling() throws(StoreError) -> PostgresStore {
        try PostgresStore(url: conninfo)
    }

    /// Takes the leadership lock if it is free; true while this session holds it. A session
    /// rebuilt after a lost connection no longer holds it and asks again.
    func tryLeadershipLock() throws(StoreError) -> Bool {
        try locked { () throws(StoreError) -> Bool in
            // Asked only when not already held: each successful call would stack another hold.
            let held = try rows(
                """
                SELECT CASE WHEN EXISTS (
                    SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                        AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid
                        AND objsubid = 1)
                THEN true ELSE pg_try_advisory_lock($1::bigint) END
                """, [String(Self.leadershipKey)])
            return held.first?[0] == "t"
        }
    }
}

/// Following the agents other instances write: LISTEN for their batches' announcements, then
/// read the rows each names.
extension PostgresStore {
    /// Subscribes this session to the announcements of changed agents.
    func listenForChanges() throws(StoreError) {
        try locked { () throws(StoreError) in
            try exec("LISTEN \(Self.changesChannel)")
            try exec("LISTEN \(Self.actionsChannel)")
        }
    }

    /// Waits up to `milliseconds` for announcements and returns their payloads (none on a
    /// timeout). Throws when the session broke: its subscription is gone with it.
    func announcements(waitingUpTo milliseconds: Int32) throws(StoreError) -> [(channel: String, payload: String)] {
        try locked { () throws(StoreError) -> [(channel: String, payload: String)] in
            var payloads = drainNotifications()
            if !payloads.isEmpty { return payloads }
            var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            guard pfd.fd >= 0 else { throw StoreError(.unavailable, "PostgreSQL session has no socket") }
            _ = poll(&pfd, 1, milliseconds)
            guard PQconsumeInput(conn) == 1, PQstatus(conn) == CONNECTION_OK else {
                connection = nil
                throw StoreError(.unavailable, "PostgreSQL session lost while listening")
            }
            payloads = drainNotifications()
            return payloads
        }
    }

    /// The agents a batch changed (revisions `from...to` of `agent_changes`): their rows, and
    /// the uids whose row is gone (forgotten).
    func changedAgents(from: Int64, to: Int64) throws(StoreError) -> (rows: [AgentRow], gone: [String]) {
        try locked { () throws(StoreError) in
            let result = try rows(
                """
                SELECT DISTINCT c.uid, a.uid IS NULL FROM agent_changes c LEFT JOIN agents a ON a.uid = c.uid
                WHERE c.revision BETWEEN $1 AND $2
                """, [String(from), String(to)])
            let gone = result.filter { $0[1] == "t" }.compactMap { $0[0] }
            let present = result.filter { $0[1] != "t" }.compactMap { $0[0] }
            guard !present.isEmpty else { return ([], gone) }
            let found = try rows(
                "SELECT \(Self.agentColumns) FROM agents WHERE uid = ANY($1::text[])",
                ["{" + present.joined(separator: ",") + "}"]
            ).map(Self.agentRow)
            return (found, gone)
        }
    }

    /// Rows other instances wrote since `since` (by last-seen time): what a new instance may
    /// have missed between loading the agents and its peers' starting to announce.
    func agentsSeen(since: Int64, notOwnedBy instance: String) throws(StoreError) -> [AgentRow] {
        try locked { () throws(StoreError) in
            try rows(
                "SELECT \(Self.agentColumns) FROM agents WHERE last_seen >= $1 AND owner <> $2",
                [String(since), instance]
            ).map(Self.agentRow)
        }
    }

    /// The actions notifications point at, oldest first (ids whose row is gone are skipped).
    func actions(ids: [Int64]) throws(StoreError) -> [ClusterActionRow] {
        guard !ids.isEmpty else { return [] }
        return try locked { () throws(StoreError) in
            try rows(
                "SELECT \(Self.actionColumns) FROM cluster_actions WHERE id = ANY($1::bigint[]) ORDER BY id",
                ["{" + ids.map(String.init).joined(separator: ",") + "}"]
            ).map(Self.actionRow)
        }
    }

    /// Actions for `instance` (or every instance) from the others with ids above `id`, oldest
    /// first: what was posted while its LISTEN session was not there to hear it.
    func actions(after id: Int64, for instance: String) throws(StoreError) -> [ClusterActionRow] {
        try locked { () throws(StoreError) in
            try rows(
                "SELECT \(Self.actionColumns) FROM cluster_actions WHERE id > $1 AND (target = $2 OR target = '*') AND sender <> $2 ORDER BY id",
                [String(id), instance]
            ).map(Self.actionRow)
        }
    }

    /// The newest action's id (0 without any).
    func latestActionID() throws(StoreError) -> Int64 {
        try locked { () throws(StoreError) in
            Int64(try rows("SELECT COALESCE(MAX(id), 0) FROM cluster_actions", []).first?[0] ?? "") ?? 0
        }
    }

    private static let actionColumns = "id, sender, target, kind, uids, body"

    private static func actionRow(_ r: [String?]) -> ClusterActionRow {
        ClusterActionRow(
            sender: r[1] ?? "", target: r[2] ?? "", kind: r[3] ?? "",
            uids: (r[4] ?? "").split(separator: ",").map(String.init), body: r[5] ?? "", id: Int64(r[0] ?? "") ?? 0)
    }

    /// Stores an action and points `target` at it (the notification goes out at commit).
    func post(_ action: ClusterActionRow, now: Int64) throws(StoreError) {
        _ = try select(
            """
            WITH posted AS (
                INSERT INTO cluster_actions (sender, target, kind, uids, body, at)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
            SELECT pg_notify('\(Self.actionsChannel)', $2 || ':' || id) FROM posted
            """,
            [
                action.sender, action.target, action.kind, action.uids.joined(separator: ","), action.body,
                String(now),
            ])
    }
}
