import CLibPQ

/// The leadership lock: a session-level advisory lock, so PostgreSQL itself frees it when the
/// holder's session ends (its process died, or it went silent past the lease).
extension PostgresStore {
    /// The advisory lock key of the cluster's leadership.
    static let leadershipKey: Int64 = 7_305_228_392

    /// A connection of its own for heartbeats and the leadership lock: a session PostgreSQL ends
    /// after `leaseMilliseconds` of silence, which frees the lock for another instance.
    public static func clusterSession(url: String, leaseMilliseconds: Int64) throws(StoreError) -> PostgresStore {
        let store = try PostgresStore(url: url)
        try store.locked { () throws(StoreError) in
            try store.exec("SET idle_session_timeout = \(max(1000, leaseMilliseconds))")
            try store.exec("SET application_name = 'ampora-cluster'")
        }
        return store
    }

    /// Takes the leadership lock if it is free; true while this session holds it. A session
    /// rebuilt after a lost connection no longer holds it and asks again.
    func tryLeadershipLock(leaseMilliseconds: Int64) throws(StoreError) -> Bool {
        try locked { () throws(StoreError) -> Bool in
            // `locked` reconnects a lost session: give the new one the same lease.
            try exec("SET idle_session_timeout = \(max(1000, leaseMilliseconds))")
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
