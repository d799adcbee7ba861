import CSQLite
import Foundation

/// The write-behind path: one `BEGIN IMMEDIATE` transaction per batch.
extension SQLiteStore {
    /// Writes a batch in one transaction; nothing is fenced (one instance per SQLite file).
    @discardableResult
    public func write(_ batch: WriteBatch) throws(StoreError) -> Int {
        try locked { () throws(StoreError) in
            try transaction { () throws(StoreError) in
                for table in batch.forgotten.isEmpty ? [] : ["agents", "agent_history"] {
                    let s = try prepare("DELETE FROM \(table) WHERE uid = ?1")
                    defer { sqlite3_finalize(s.handle) }
                    for uid in batch.forgotten {
                        s.bind(1, uid)
                        try step(s)
                    }
                }
                if !batch.agents.isEmpty {
                    let s = try prepare(
                        """
                        INSERT INTO agents (uid, connected, first_seen, last_seen, capabilities, description, health,
                            effective_config_hash, remote_config_status, package_statuses, components_hash,
                            custom_capabilities, connection_settings_status, owner, rolled_back_from)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                        ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected,
                            first_seen = MIN(agents.first_seen, excluded.first_seen),
                            last_seen = MAX(agents.last_seen, excluded.last_seen),
                            capabilities = excluded.capabilities, description = excluded.description,
                            health = excluded.health, effective_config_hash = excluded.effective_config_hash,
                            remote_config_status = excluded.remote_config_status,
                            package_statuses = excluded.package_statuses, components_hash = excluded.components_hash,
                            custom_capabilities = excluded.custom_capabilities,
                            connection_settings_status = excluded.connection_settings_status, owner = excluded.owner,
                            rolled_back_from = excluded.rolled_back_from
                        """)
                    defer { sqlite3_finalize(s.handle) }
                    for row in batch.agents {
                        s.bind(1, row.uid)
                        s.bind(2, row.connected ? 1 : 0)
                        s.bind(3, row.firstSeen)
                        s.bind(4, row.lastSeen)
                        s.bind(5, row.capabilities)
                        s.bind(6, row.description)
                        s.bind(7, row.health)
                        s.bind(8, row.effectiveConfigHash)
                        s.bind(9, row.remoteConfigStatus)
                        s.bind(10, row.packageStatuses)
                        s.bind(11, row.componentsHash)
                        s.bind(12, row.customCapabilities)
                        s.bind(13, row.connectionSettingsStatus)
                        s.bind(14, row.owner)
                        s.bind(15, row.rolledBackFrom)
                        try step(s)
                    }
                }
                if !batch.touches.isEmpty {
                    let s = try prepare("UPDATE agents SET last_seen = MAX(last_seen, ?2) WHERE uid = ?1")
                    defer { sqlite3_finalize(s.handle) }
                    for touch in batch.touches {
                        s.bind(1, touch.uid)
                        s.bind(2, touch.lastSeen)
                        try step(s)
                    }
                }
                if !batch.blobs.isEmpty {
                    let s = try prepare(
                        "INSERT INTO blobs (hash, kind, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
                    )
                    defer { sqlite3_finalize(s.handle) }
                    let now = WallClock.milliseconds()
                    for blob in batch.blobs {
                        s.bind(1, blob.hash)
                        s.bind(2, blob.kind)
                        s.bind(3, blob.body)
                        s.bind(4, now)
                        try step(s)
                    }
                }
                if !batch.history.isEmpty {
                    let s = try prepare("INSERT INTO agent_history (uid, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")
                    defer { sqlite3_finalize(s.handle) }
                    for event in batch.history {
                        s.bind(1, event.uid)
                        s.bind(2, event.at)
                        s.bind(3, event.kind)
                        s.bind(4, event.detail)
                        try step(s)
                    }
                }
            }
        }
        return 0
    }
}
