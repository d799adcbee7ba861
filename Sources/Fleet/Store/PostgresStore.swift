import CLibPQ
import Foundation

/// The production backend: PostgreSQL through libpq. Batches travel by COPY into per-session
/// staging tables and one upsert each, inside a single transaction.
public final class PostgresStore: FleetStore, @unchecked Sendable {
    private let lock = NSLock()
    private var conn: OpaquePointer?
    private let conninfo: String
    private let shownURL: String
    private var stagingReady = false

    /// `postgres`.
    public var backend: String { "postgres" }

    /// Connects to `url` and migrates the schema.
    public init(url: String) throws(StoreError) {
        conninfo = url.contains("connect_timeout=") ? url : url + (url.contains("?") ? "&" : "?") + "connect_timeout=5"
        shownURL = Self.redact(url)
        lock.lock()
        defer { lock.unlock() }
        try connect()
        try migrate()
    }

    deinit { PQfinish(conn) }

    /// Closes the connection.
    public func close() {
        lock.withLock {
            PQfinish(conn)
            conn = nil
        }
    }

    /// The URL without its password, for messages.
    static func redact(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    private func connect() throws(StoreError) {
        if conn != nil, PQstatus(conn) == CONNECTION_OK { return }
        PQfinish(conn)
        conn = PQconnectdb(conninfo)
        stagingReady = false
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(conn)
            conn = nil
            throw StoreError(
                .unavailable,
                "cannot connect to PostgreSQL \(shownURL): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        _ = try? exec("SET client_min_messages = warning")
    }

    // MARK: Migrations

    private func migrate() throws(StoreError) {
        try exec("BEGIN")
        do throws(StoreError) {
            // Two servers starting at once must not both migrate.
            try exec("SELECT pg_advisory_xact_lock(7305228391)")
            let tables = Set(
                try rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").map { $0[0] ?? "" })
            var current = 0
            if tables.contains(Schema.metaTable) {
                let owner = try rows("SELECT value FROM ampora_meta WHERE key = 'application'").first?[0] ?? nil
                guard owner == "ampora" else {
                    throw StoreError(.incompatible, "\(shownURL) has an ampora_meta table that Ampora did not write")
                }
                current =
                    Int(try rows("SELECT value FROM ampora_meta WHERE key = 'schema_version'").first?[0] ?? "") ?? -1
                guard current >= 0 else { throw StoreError(.incompatible, "\(shownURL): schema version unreadable") }
            } else if !tables.isEmpty {
                throw StoreError(
                    .incompatible,
                    "\(shownURL) is not an Ampora database (its schema has tables "
                        + "\(tables.sorted().prefix(8).joined(separator: ", "))); refusing to touch it")
            } else {
                try exec("CREATE TABLE ampora_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                try exec("INSERT INTO ampora_meta VALUES ('application', 'ampora'), ('schema_version', '0')")
            }
            guard current <= Schema.latest else {
                throw StoreError(
                    .incompatible,
                    "\(shownURL) has schema version \(current), newer than this server's \(Schema.latest): upgrade Ampora"
                )
            }
            for index in current..<Schema.latest {
                for sql in Schema.statements(index, postgres: true) { try exec(sql) }
            }
            try exec("UPDATE ampora_meta SET value = '\(Schema.latest)' WHERE key = 'schema_version'")
            try exec("COMMIT")
        } catch {
            _ = try? exec("ROLLBACK")
            throw error
        }
    }

    // MARK: FleetStore

    /// Writes a batch in one transaction (COPY into staging, then one statement per table).
    public func write(_ batch: WriteBatch) throws(StoreError) {
        try locked { () throws(StoreError) in
            try prepareStaging()
            try exec("BEGIN")
            do throws(StoreError) {
                if !batch.agents.isEmpty {
                    try copy("COPY agents_stage FROM STDIN") { out in
                        for row in batch.agents {
                            CopyText.row(
                                &out,
                                [
                                    .text(row.uid), .int(row.connected ? 1 : 0), .int(row.firstSeen),
                                    .int(row.lastSeen),
                                    .int(row.capabilities), .bytes(row.description), .bytes(row.health),
                                    .optText(row.effectiveConfigHash), .bytes(row.remoteConfigStatus),
                                    .bytes(row.packageStatuses), .optText(row.componentsHash),
                                    .bytes(row.customCapabilities), .bytes(row.connectionSettingsStatus),
                                    .text(row.owner),
                                ])
                        }
                    }
                    try exec(
                        """
                        INSERT INTO agents (uid, connected, first_seen, last_seen, capabilities, description, health,
                            effective_config_hash, remote_config_status, package_statuses, components_hash,
                            custom_capabilities, connection_settings_status, owner)
                        SELECT * FROM agents_stage
                        ON CONFLICT (uid) DO UPDATE SET connected = excluded.connected,
                            first_seen = LEAST(agents.first_seen, excluded.first_seen),
                            last_seen = GREATEST(agents.last_seen, excluded.last_seen),
                            capabilities = excluded.capabilities, description = excluded.description,
                            health = excluded.health, effective_config_hash = excluded.effective_config_hash,
                            remote_config_status = excluded.remote_config_status,
                            package_statuses = excluded.package_statuses, components_hash = excluded.components_hash,
                            custom_capabilities = excluded.custom_capabilities,
                            connection_settings_status = excluded.connection_settings_status, owner = excluded.owner
                        """)
                }
                if !batch.touches.isEmpty {
                    try copy("COPY touch_stage FROM STDIN") { out in
                        for t in batch.touches { CopyText.row(&out, [.text(t.uid), .int(t.lastSeen)]) }
                    }
                    try exec(
                        """
                        UPDATE agents SET last_seen = GREATEST(agents.last_seen, t.last_seen)
                        FROM touch_stage t WHERE agents.uid = t.uid
                        """)
                }
                if !batch.blobs.isEmpty {
                    let now = Clock.milliseconds()
                    try copy("COPY blob_stage FROM STDIN") { out in
                        for b in batch.blobs {
                            CopyText.row(&out, [.text(b.hash), .text(b.kind), .bytes(b.body), .int(now)])
                        }
                    }
                    try exec("INSERT INTO blobs SELECT DISTINCT ON (hash) * FROM blob_stage ON CONFLICT DO NOTHING")
                }
                if !batch.history.isEmpty {
                    try copy("COPY agent_history (uid, at, kind, detail) FROM STDIN") { out in
                        for h in batch.history {
                            CopyText.row(&out, [.text(h.uid), .int(h.at), .text(h.kind), .text(h.detail)])
                        }
                    }
                }
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }

    /// Every agent snapshot.
    public func loadAgents() throws(StoreError) -> [AgentRow] {
        try locked { () throws(StoreError) in
            try rows(
                """
                SELECT uid, connected, first_seen, last_seen, capabilities, description, health,
                    effective_config_hash, remote_config_status, package_statuses, components_hash,
                    custom_capabilities, connection_settings_status, owner
                FROM agents WHERE deleted_at IS NULL ORDER BY uid
                """
            ).map { r in
                var row = AgentRow(uid: r[0] ?? "")
                row.connected = r[1] != "0"
                row.firstSeen = Int64(r[2] ?? "") ?? 0
                row.lastSeen = Int64(r[3] ?? "") ?? 0
                row.capabilities = Int64(r[4] ?? "") ?? 0
                row.description = CopyText.bytea(r[5])
                row.health = CopyText.bytea(r[6])
                row.effectiveConfigHash = r[7]
                row.remoteConfigStatus = CopyText.bytea(r[8])
                row.packageStatuses = CopyText.bytea(r[9])
                row.componentsHash = r[10]
                row.customCapabilities = CopyText.bytea(r[11])
                row.connectionSettingsStatus = CopyText.bytea(r[12])
                row.owner = r[13] ?? ""
                return row
            }
        }
    }

    /// Marks every agent of `owner` disconnected.
    public func markDisconnected(owner: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows("UPDATE agents SET connected = 0 WHERE owner = $1 AND connected <> 0", [owner])
        }
    }

    /// The newest `limit` history events of an agent, newest first.
    public func history(uid: String, limit: Int) throws(StoreError) -> [HistoryRow] {
        try locked { () throws(StoreError) in
            try rows(
                "SELECT uid, at, kind, detail FROM agent_history WHERE uid = $1 ORDER BY id DESC LIMIT $2",
                [uid, String(limit)]
            ).map { HistoryRow(uid: $0[0] ?? "", at: Int64($0[1] ?? "") ?? 0, kind: $0[2] ?? "", detail: $0[3] ?? "") }
        }
    }

    /// A blob by hash.
    public func blob(hash: String) throws(StoreError) -> BlobRow? {
        try locked { () throws(StoreError) in
            try rows("SELECT hash, kind, body FROM blobs WHERE hash = $1", [hash]).first.map {
                BlobRow(hash: $0[0] ?? "", kind: $0[1] ?? "", body: CopyText.bytea($0[2]) ?? [])
            }
        }
    }

    /// Number of blobs of a kind.
    public func blobCount(kind: String) throws(StoreError) -> Int {
        try locked { () throws(StoreError) in
            Int(try rows("SELECT COUNT(*) FROM blobs WHERE kind = $1", [kind]).first?[0] ?? "") ?? 0
        }
    }

    /// Stores a config version and its blob.
    public func saveConfig(_ config: ConfigRow, blob: BlobRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            try exec("BEGIN")
            do throws(StoreError) {
                _ = try rows(
                    "INSERT INTO blobs (hash, kind, body, created_at) VALUES ($1, $2, decode($3, 'hex'), $4) ON CONFLICT DO NOTHING",
                    [blob.hash, blob.kind, CopyText.hex(blob.body), String(config.updatedAt)])
                _ = try rows(
                    """
                    INSERT INTO configs (name, hash, version, updated_at) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version,
                        updated_at = excluded.updated_at, deleted_at = NULL
                    """, [config.name, config.hash, String(config.version), String(config.updatedAt)])
                _ = try rows(
                    "INSERT INTO config_versions (name, version, hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    [config.name, String(config.version), config.hash, String(config.updatedAt)])
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }

    /// Every named config.
    public func loadConfigs() throws(StoreError) -> [ConfigRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT name, hash, version, updated_at FROM configs WHERE deleted_at IS NULL ORDER BY name").map {
                ConfigRow(
                    name: $0[0] ?? "", hash: $0[1] ?? "", version: Int64($0[2] ?? "") ?? 0,
                    updatedAt: Int64($0[3] ?? "") ?? 0)
            }
        }
    }

    /// Stores an assignment.
    public func saveAssignment(_ a: AssignmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows(
                "INSERT INTO assignments (id, config, hash, selector, uids, seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    a.id, a.config, a.hash, StoreJSON.encode(a.selector), StoreJSON.encode(a.uids), String(a.sequence),
                    String(a.createdAt),
                ])
        }
    }

    /// Every assignment, oldest first.
    public func loadAssignments() throws(StoreError) -> [AssignmentRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT id, config, hash, selector, uids, seq, created_at FROM assignments ORDER BY seq").map {
                r in
                AssignmentRow(
                    id: r[0] ?? "", config: r[1] ?? "", hash: r[2] ?? "", selector: StoreJSON.decodeMap(r[3] ?? "{}"),
                    uids: StoreJSON.decodeList(r[4] ?? "[]"), sequence: Int64(r[5] ?? "") ?? 0,
                    createdAt: Int64(r[6] ?? "") ?? 0)
            }
        }
    }

    // MARK: Plumbing

    private func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        try connect()
        do throws(StoreError) {
            return try body()
        } catch {
            // A broken connection is rebuilt on the next call.
            if PQstatus(conn) != CONNECTION_OK {
                PQfinish(conn)
                conn = nil
                throw StoreError(.unavailable, "PostgreSQL connection lost: \(error.message)")
            }
            throw error
        }
    }

    private func prepareStaging() throws(StoreError) {
        guard !stagingReady else { return }
        try exec(
            """
            CREATE TEMP TABLE IF NOT EXISTS agents_stage (LIKE agents) ON COMMIT DELETE ROWS;
            ALTER TABLE agents_stage DROP COLUMN IF EXISTS deleted_at;
            CREATE TEMP TABLE IF NOT EXISTS touch_stage (uid TEXT, last_seen BIGINT) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS blob_stage (LIKE blobs) ON COMMIT DELETE ROWS
            """)
        stagingReady = true
    }

    private func failure(_ result: OpaquePointer?, _ what: String) -> StoreError {
        let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        if PQstatus(conn) != CONNECTION_OK {
            return StoreError(.unavailable, "PostgreSQL unavailable: \(String(cString: PQerrorMessage(conn)))")
        }
        if state.hasPrefix("08") || state == "57P01" || state == "57P03" {
            return StoreError(.unavailable, "PostgreSQL unavailable (\(state)): \(message)")
        }
        if state == "23505" { return StoreError(.conflict, "\(what): \(message)") }
        return StoreError(
            .failed, "\(what) (\(state)): \(message.isEmpty ? String(cString: PQerrorMessage(conn)) : message)")
    }

    private func exec(_ sql: String) throws(StoreError) {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(result, "PostgreSQL") }
    }

    private func rows(_ sql: String, _ params: [String?] = []) throws(StoreError) -> [[String?]] {
        var cStrings = params.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cStrings { free(p) } }
        let result = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buffer.count, 1)) {
                PQexecParams(conn, sql, Int32(params.count), nil, params.isEmpty ? nil : $0, nil, nil, 0)
            }
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(result, "PostgreSQL") }
        let n = PQntuples(result)
        let m = PQnfields(result)
        var out: [[String?]] = []
        out.reserveCapacity(Int(n))
        for i in 0..<n {
            var row: [String?] = []
            row.reserveCapacity(Int(m))
            for j in 0..<m {
                row.append(PQgetisnull(result, i, j) == 1 ? nil : String(cString: PQgetvalue(result, i, j)))
            }
            out.append(row)
        }
        return out
    }

    private func copy(_ sql: String, _ fill: (inout [UInt8]) -> Void) throws(StoreError) {
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            throw failure(start, "COPY")
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        fill(&buffer)
        let sent = buffer.withUnsafeBytes { raw in
            PQputCopyData(conn, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        let ended = PQputCopyEnd(conn, sent == 1 ? nil : "client could not send")
        var failed: StoreError?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) != PGRES_COMMAND_OK && failed == nil { failed = failure(result, "COPY") }
            PQclear(result)
        }
        if let failed { throw failed }
        if sent != 1 || ended != 1 {
            throw StoreError(.unavailable, "COPY: \(String(cString: PQerrorMessage(conn)))")
        }
    }
}

/// PostgreSQL COPY text format: tab-separated, `\N` for NULL, backslash escapes, bytea as `\\x…`.
enum CopyText {
    enum Field {
        case text(String)
        case optText(String?)
        case int(Int64)
        case bytes([UInt8]?)
    }

    static func row(_ out: inout [UInt8], _ fields: [Field]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(9) }
            switch field {
            case .text(let s): escape(s, &out)
            case .optText(let s):
                if let s { escape(s, &out) } else { out.append(contentsOf: [92, 78]) }
            case .int(let n): out.append(contentsOf: String(n).utf8)
            case .bytes(let b):
                guard let b else {
                    out.append(contentsOf: [92, 78])
                    continue
                }
                out.append(contentsOf: [92, 92, 120])
                hex(b, &out)
            }
        }
        out.append(10)
    }

    static func escape(_ s: String, _ out: inout [UInt8]) {
        for byte in s.utf8 {
            switch byte {
            case 92: out.append(contentsOf: [92, 92])
            case 9: out.append(contentsOf: [92, 116])
            case 10: out.append(contentsOf: [92, 110])
            case 13: out.append(contentsOf: [92, 114])
            default: out.append(byte)
            }
        }
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8], _ out: inout [UInt8]) {
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        hex(bytes, &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a bytea in hex output format (`\x…`).
    static func bytea(_ text: String?) -> [UInt8]? {
        guard let text else { return nil }
        guard text.hasPrefix("\\x") else { return Array(text.utf8) }
        return ConfigHash.bytes(hex: String(text.dropFirst(2)))
    }
}
