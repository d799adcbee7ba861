import CSQLite
import Foundation

/// The embedded backend: one SQLite file in WAL mode, one connection behind a lock.
public final class SQLiteStore: FleetStore, @unchecked Sendable {
    private let lock = NSLock()
    private var db: OpaquePointer?
    private let path: String

    /// `sqlite`.
    public var backend: String { "sqlite" }

    /// Opens (or creates) the database at `path` and migrates it.
    public init(path: String) throws(StoreError) {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        if sqlite3_open_v2(path, &handle, flags, nil) != SQLITE_OK {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw StoreError(.unavailable, "cannot open SQLite database \(path): \(message)")
        }
        db = handle
        sqlite3_busy_timeout(handle, 5000)
        do throws(StoreError) {
            try exec("PRAGMA journal_mode=WAL")
            try exec("PRAGMA synchronous=NORMAL")
            // Batches touch pages all over the agents index: keep them in memory between batches.
            try exec("PRAGMA cache_size=-65536")
            try exec("PRAGMA foreign_keys=ON")
            try migrate()
        } catch {
            sqlite3_close(handle)
            db = nil
            if error.kind == .incompatible { throw error }
            throw StoreError(.incompatible, "\(path) is not a usable Ampora SQLite database: \(error.message)")
        }
    }

    deinit { sqlite3_close(db) }

    /// Closes the connection.
    public func close() {
        lock.withLock {
            sqlite3_close(db)
            db = nil
        }
    }

    // MARK: Migrations

    private func migrate() throws(StoreError) {
        let tables = try query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
            $0.text(0)
        }
        let current: Int
        if tables.contains(Schema.metaTable) {
            let owner = try query("SELECT value FROM ampora_meta WHERE key = 'application'") { $0.text(0) }
            guard owner.first == "ampora" else {
                throw StoreError(.incompatible, "\(path) has an ampora_meta table that Ampora did not write")
            }
            current =
                Int(
                    try query("SELECT value FROM ampora_meta WHERE key = 'schema_version'") { $0.text(0) }
                        .first ?? "") ?? -1
            guard current >= 0 else { throw StoreError(.incompatible, "\(path): schema version unreadable") }
        } else if !tables.isEmpty {
            throw StoreError(
                .incompatible,
                "\(path) is not an Ampora database (it has tables \(tables.sorted().joined(separator: ", "))); "
                    + "refusing to touch it")
        } else {
            try exec("CREATE TABLE ampora_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            try exec("INSERT INTO ampora_meta VALUES ('application', 'ampora'), ('schema_version', '0')")
            current = 0
        }
        guard current <= Schema.latest else {
            throw StoreError(
                .incompatible,
                "\(path) has schema version \(current), newer than this server's \(Schema.latest): upgrade Ampora")
        }
        for index in current..<Schema.latest {
            try transaction { () throws(StoreError) in
                for sql in Schema.statements(index, postgres: false) { try exec(sql) }
                try exec("UPDATE ampora_meta SET value = '\(index + 1)' WHERE key = 'schema_version'")
            }
        }
    }

    // MARK: FleetStore

    /// Writes a batch in one transaction.
    public func write(_ batch: WriteBatch) throws(StoreError) {
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
                            custom_capabilities, connection_settings_status, owner)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                        ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected,
                            first_seen = MIN(agents.first_seen, excluded.first_seen),
                            last_seen = MAX(agents.last_seen, excluded.last_seen),
                            capabilities = excluded.capabilities, description = excluded.description,
                            health = excluded.health, effective_config_hash = excluded.effective_config_hash,
                            remote_config_status = excluded.remote_config_status,
                            package_statuses = excluded.package_statuses, components_hash = excluded.components_hash,
                            custom_capabilities = excluded.custom_capabilities,
                            connection_settings_status = excluded.connection_settings_status, owner = excluded.owner
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
                    let now = Clock.milliseconds()
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
    }

    /// Every agent snapshot.
    public func loadAgents() throws(StoreError) -> [AgentRow] {
        try locked { () throws(StoreError) in
            try query(
                """
                SELECT uid, connected, first_seen, last_seen, capabilities, description, health,
                    effective_config_hash, remote_config_status, package_statuses, components_hash,
                    custom_capabilities, connection_settings_status, owner
                FROM agents WHERE deleted_at IS NULL ORDER BY uid
                """
            ) { r in
                var row = AgentRow(uid: r.text(0))
                row.connected = r.int(1) != 0
                row.firstSeen = r.int(2)
                row.lastSeen = r.int(3)
                row.capabilities = r.int(4)
                row.description = r.blob(5)
                row.health = r.blob(6)
                row.effectiveConfigHash = r.optionalText(7)
                row.remoteConfigStatus = r.blob(8)
                row.packageStatuses = r.blob(9)
                row.componentsHash = r.optionalText(10)
                row.customCapabilities = r.blob(11)
                row.connectionSettingsStatus = r.blob(12)
                row.owner = r.text(13)
                return row
            }
        }
    }

    /// Marks every agent of `owner` disconnected.
    public func markDisconnected(owner: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare("UPDATE agents SET connected = 0 WHERE owner = ?1 AND connected <> 0")
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, owner)
            try step(s)
        }
    }

    /// The newest `limit` history events of an agent, newest first.
    public func history(uid: String, limit: Int) throws(StoreError) -> [HistoryRow] {
        try locked { () throws(StoreError) in
            try query(
                "SELECT uid, at, kind, detail FROM agent_history WHERE uid = ?1 ORDER BY id DESC LIMIT ?2",
                bind: {
                    $0.bind(1, uid)
                    $0.bind(2, Int64(limit))
                }
            ) { r in HistoryRow(uid: r.text(0), at: r.int(1), kind: r.text(2), detail: r.text(3)) }
        }
    }

    /// A blob by hash.
    public func blob(hash: String) throws(StoreError) -> BlobRow? {
        try locked { () throws(StoreError) in
            try query("SELECT hash, kind, body FROM blobs WHERE hash = ?1", bind: { $0.bind(1, hash) }) { r in
                BlobRow(hash: r.text(0), kind: r.text(1), body: r.blob(2) ?? [])
            }.first
        }
    }

    /// Number of blobs of a kind.
    public func blobCount(kind: String) throws(StoreError) -> Int {
        try locked { () throws(StoreError) in
            Int(
                try query("SELECT COUNT(*) FROM blobs WHERE kind = ?1", bind: { $0.bind(1, kind) }) { $0.int(0) }.first
                    ?? 0)
        }
    }

    /// Stores a config version and its blob.
    public func saveConfig(_ config: ConfigRow, blob: BlobRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            try transaction { () throws(StoreError) in
                let b = try prepare(
                    "INSERT INTO blobs (hash, kind, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
                defer { sqlite3_finalize(b.handle) }
                b.bind(1, blob.hash)
                b.bind(2, blob.kind)
                b.bind(3, blob.body)
                b.bind(4, config.updatedAt)
                try step(b)
                let c = try prepare(
                    """
                    INSERT INTO configs (name, hash, version, updated_at) VALUES (?1, ?2, ?3, ?4)
                    ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version,
                        updated_at = excluded.updated_at, deleted_at = NULL
                    """)
                defer { sqlite3_finalize(c.handle) }
                c.bind(1, config.name)
                c.bind(2, config.hash)
                c.bind(3, config.version)
                c.bind(4, config.updatedAt)
                try step(c)
                let v = try prepare(
                    "INSERT INTO config_versions (name, version, hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
                )
                defer { sqlite3_finalize(v.handle) }
                v.bind(1, config.name)
                v.bind(2, config.version)
                v.bind(3, config.hash)
                v.bind(4, config.updatedAt)
                try step(v)
            }
        }
    }

    /// Every named config.
    public func loadConfigs() throws(StoreError) -> [ConfigRow] {
        try locked { () throws(StoreError) in
            try query("SELECT name, hash, version, updated_at FROM configs WHERE deleted_at IS NULL ORDER BY name") {
                ConfigRow(name: $0.text(0), hash: $0.text(1), version: $0.int(2), updatedAt: $0.int(3))
            }
        }
    }

    /// Stores an assignment.
    public func saveAssignment(_ a: AssignmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare(
                "INSERT INTO assignments (id, config, hash, selector, uids, seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            )
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, a.id)
            s.bind(2, a.config)
            s.bind(3, a.hash)
            s.bind(4, StoreJSON.encode(a.selector))
            s.bind(5, StoreJSON.encode(a.uids))
            s.bind(6, a.sequence)
            s.bind(7, a.createdAt)
            try step(s)
        }
    }

    /// Every assignment, oldest first.
    public func loadAssignments() throws(StoreError) -> [AssignmentRow] {
        try locked { () throws(StoreError) in
            try query("SELECT id, config, hash, selector, uids, seq, created_at FROM assignments ORDER BY seq") { r in
                AssignmentRow(
                    id: r.text(0), config: r.text(1), hash: r.text(2), selector: StoreJSON.decodeMap(r.text(3)),
                    uids: StoreJSON.decodeList(r.text(4)), sequence: r.int(5), createdAt: r.int(6))
            }
        }
    }

    // MARK: Plumbing

    private func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard db != nil else { throw StoreError(.unavailable, "the SQLite database is closed") }
        return try body()
    }

    private func error(_ what: String) -> StoreError {
        let code = sqlite3_errcode(db)
        let text = String(cString: sqlite3_errmsg(db))
        let kind: StoreError.Kind =
            switch code & 0xff {
            case SQLITE_NOTADB, SQLITE_CORRUPT: .incompatible
            case SQLITE_CONSTRAINT: .conflict
            case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: .unavailable
            default: .failed
            }
        return StoreError(kind, "\(what): \(text)")
    }

    private func exec(_ sql: String) throws(StoreError) {
        if sqlite3_exec(db, sql, nil, nil, nil) != SQLITE_OK { throw error("SQLite") }
    }

    private func transaction(_ body: () throws(StoreError) -> Void) throws(StoreError) {
        try exec("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try body()
            try exec("COMMIT")
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    private func prepare(_ sql: String) throws(StoreError) -> Statement {
        var handle: OpaquePointer?
        if sqlite3_prepare_v2(db, sql, -1, &handle, nil) != SQLITE_OK { throw error("SQLite prepare") }
        return Statement(handle: handle)
    }

    private func step(_ s: Statement) throws(StoreError) {
        let rc = sqlite3_step(s.handle)
        sqlite3_reset(s.handle)
        sqlite3_clear_bindings(s.handle)
        if rc != SQLITE_DONE && rc != SQLITE_ROW { throw error("SQLite") }
    }

    private func query<T>(
        _ sql: String, bind: (Statement) -> Void = { _ in }, _ row: (Statement) -> T
    ) throws(StoreError) -> [T] {
        let s = try prepare(sql)
        defer { sqlite3_finalize(s.handle) }
        bind(s)
        var out: [T] = []
        while true {
            let rc = sqlite3_step(s.handle)
            if rc == SQLITE_ROW {
                out.append(row(s))
            } else if rc == SQLITE_DONE {
                return out
            } else {
                throw error("SQLite")
            }
        }
    }

    /// A prepared statement; binds copy their values (SQLITE_TRANSIENT).
    struct Statement {
        let handle: OpaquePointer?
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        func bind(_ i: Int32, _ v: String) { _ = sqlite3_bind_text(handle, i, v, -1, Self.transient) }
        func bind(_ i: Int32, _ v: String?) {
            if let v { bind(i, v) } else { _ = sqlite3_bind_null(handle, i) }
        }
        func bind(_ i: Int32, _ v: Int64) { _ = sqlite3_bind_int64(handle, i, v) }
        func bind(_ i: Int32, _ v: [UInt8]?) {
            guard let v else {
                _ = sqlite3_bind_null(handle, i)
                return
            }
            v.withUnsafeBytes { raw in
                _ = sqlite3_bind_blob(
                    handle, i, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), Self.transient)
            }
        }

        func text(_ i: Int32) -> String { sqlite3_column_text(handle, i).map { String(cString: $0) } ?? "" }
        func optionalText(_ i: Int32) -> String? {
            sqlite3_column_type(handle, i) == SQLITE_NULL ? nil : text(i)
        }
        func int(_ i: Int32) -> Int64 { sqlite3_column_int64(handle, i) }
        func blob(_ i: Int32) -> [UInt8]? {
            guard sqlite3_column_type(handle, i) != SQLITE_NULL else { return nil }
            let n = Int(sqlite3_column_bytes(handle, i))
            guard n > 0, let p = sqlite3_column_blob(handle, i) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
    }
}

/// Selector and uid lists are stored as JSON text (same in both backends).
enum StoreJSON {
    static func encode(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
            return "null"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeMap(_ text: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] ?? [:]
    }

    static func decodeList(_ text: String) -> [String] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] ?? []
    }
}

/// Wall-clock milliseconds since the Unix epoch.
enum Clock {
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
