import CLibPQ
import Foundation

/// The write-behind path: COPY into staging tables, then one statement per table.
extension PostgresStore {
    /// A staged row `s` may change an existing row only under the claim that holds it, or
    /// under a newer connection's claim: the old owner's late writes are refused (see
    /// docs/ARCHITECTURE.md, "Several instances").
    static func fenced(_ s: String) -> String {
        """
        (\(s).claimed_at > agents.claimed_at
            OR (\(s).claimed_at = agents.claimed_at AND \(s).owner = agents.owner AND \(s).fence = agents.fence))
        """
    }

    /// Writes a batch in one transaction (COPY into staging, then one statement per table);
    /// returns how many agent rows the ownership fence refused.
    @discardableResult
    public func write(_ batch: WriteBatch) throws(StoreError) -> Int {
        try locked { () throws(StoreError) -> Int in
            var refused = 0
            try prepareStaging()
            try exec("BEGIN")
            do throws(StoreError) {
                if !batch.forgotten.isEmpty {
                    // Canonical UUIDs need no quoting inside an array literal.
                    let list = "{" + batch.forgotten.joined(separator: ",") + "}"
                    // Only rows no instance holds: another may have taken the agent since. The
                    // history's uid index is in the database's collation, agents.uid in bytes (Schema).
                    _ = try rows(
                        """
                        WITH gone AS (DELETE FROM agents WHERE uid = ANY($1::text[]) AND connected = 0 RETURNING uid)
                        DELETE FROM agent_history WHERE uid IN (SELECT uid COLLATE "default" FROM gone)
                        """, [list])
                }
                // In uid order, the index probes (and the heap pages, where rows went in in uid
                // order) follow each other instead of jumping: the write-behind hands over its
                // rows in hash order (BENCHMARKS.md, "Status writes in binary").
                let agents = batch.agents.sorted { $0.uid < $1.uid }
                var existing = agents.filter { !$0.isNew }
                let fresh = agents.filter(\.isNew)
                if !fresh.isEmpty {
                    // Agents this server never wrote go straight in, at the speed of a plain COPY.
                    try exec("SAVEPOINT fresh")
                    do throws(StoreError) {
                        try copyAgents(into: "agents", fresh)
                        try exec("RELEASE SAVEPOINT fresh")
                    } catch  where error.kind == .conflict {
                        // Another server (or an earlier life of this one) wrote some: upsert them all.
                        try exec("ROLLBACK TO SAVEPOINT fresh")
                        existing = agents
                    }
                }
                if !existing.isEmpty {
                    try copyAgents(into: "agents_stage", existing)
                    // A batch is small next to the table: probe the uid index per staged row
                    // instead of hashing the whole agents table (the planner has no stats on temp tables).
                    try exec("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
                    let updated = try command(
                        """
                        UPDATE agents SET connected = s.connected,
                            first_seen = LEAST(agents.first_seen, s.first_seen),
                            last_seen = GREATEST(agents.last_seen, s.last_seen),
                            capabilities = s.capabilities, description = s.description, health = s.health,
                            effective_config_hash = s.effective_config_hash,
                            remote_config_status = s.remote_config_status, package_statuses = s.package_statuses,
                            components_hash = s.components_hash, custom_capabilities = s.custom_capabilities,
                            connection_settings_status = s.connection_settings_status, owner = s.owner,
                            fence = s.fence, claimed_at = s.claimed_at, rolled_back_from = s.rolled_back_from
                        FROM agents_stage s WHERE agents.uid = s.uid AND \(Self.fenced("s"))
                        """)
                    if updated < existing.count {
                        let inserted = try command(
                            """
                            INSERT INTO agents (\(Self.agentColumns))
                            SELECT * FROM agents_stage s WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.uid = s.uid)
                            ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected,
                                last_seen = GREATEST(agents.last_seen, excluded.last_seen),
                                capabilities = excluded.capabilities, description = excluded.description,
                                health = excluded.health, effective_config_hash = excluded.effective_config_hash,
                                remote_config_status = excluded.remote_config_status,
                                package_statuses = excluded.package_statuses, components_hash = excluded.components_hash,
                                custom_capabilities = excluded.custom_capabilities,
                                connection_settings_status = excluded.connection_settings_status, owner = excluded.owner,
                                fence = excluded.fence, claimed_at = excluded.claimed_at,
                                rolled_back_from = excluded.rolled_back_from
                            WHERE \(Self.fenced("excluded"))
                            """)
                        refused = existing.count - updated - inserted
                    }
                }
                if !batch.touches.isEmpty {
                    try copy("COPY touch_stage FROM STDIN") { out in
                        for t in batch.touches {
                            CopyText.text(t.uid, &out)
                            CopyText.int(t.lastSeen, &out, last: true)
                        }
                    }
                    try exec(
                        """
                        UPDATE agents SET last_seen = GREATEST(agents.last_seen, t.last_seen)
                        FROM touch_stage t WHERE agents.uid = t.uid
                        """)
                }
                if !batch.blobs.isEmpty {
                    let now = WallClock.milliseconds()
                    try copy("COPY blob_stage FROM STDIN") { out in
                        for b in batch.blobs {
                            CopyText.text(b.hash, &out)
                            CopyText.text(b.kind, &out)
                            CopyText.bytes(b.body, &out)
                            CopyText.int(now, &out, last: true)
                        }
                    }
                    try exec("INSERT INTO blobs SELECT DISTINCT ON (hash) * FROM blob_stage ON CONFLICT DO NOTHING")
                }
                if !batch.history.isEmpty {
                    try copy("COPY agent_history (uid, at, kind, detail) FROM STDIN") { out in
                        for h in batch.history {
                            CopyText.text(h.uid, &out)
                            CopyText.int(h.at, &out)
                            CopyText.text(h.kind, &out)
                            CopyText.text(h.detail, &out, last: true)
                        }
                    }
                }
                if let announcer = announcer.withLock({ $0 }), !batch.agents.isEmpty || !batch.forgotten.isEmpty {
                    // Delivered at commit, never for a rolled-back batch. Canonical UUIDs need no
                    // quoting inside an array literal.
                    let uids = "{" + (batch.agents.map(\.uid) + batch.forgotten).joined(separator: ",") + "}"
                    _ = try rows(
                        """
                        WITH logged AS (
                            INSERT INTO agent_changes (uid, at) SELECT unnest($1::text[]), $2 RETURNING revision)
                        SELECT pg_notify($3, $4 || ':' || min(revision) || ':' || max(revision)) FROM logged
                        """,
                        [
                            uids, String(WallClock.milliseconds()), Self.changesChannel,
                            announcer,
                        ])
                }
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
            return refused
        }
    }
}
