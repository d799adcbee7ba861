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
                if !batch.forgotten.isEmpty {
                    // Canonical UUIDs need no quoting inside an array literal.
                    let list = "{" + batch.forgotten.joined(separator: ",") + "}"
                    _ = try rows("DELETE FROM agent_history WHERE uid = ANY($1::text[])", [list])
                    _ = try rows("DELETE FROM agents WHERE uid = ANY($1::text[])", [list])
                }
                var existing = batch.agents.filter { !$0.isNew }
                let fresh = batch.agents.filter(\.isNew)
                if !fresh.isEmpty {
                    // Agents this server never wrote go straight in, at the speed of a plain COPY.
                    try exec("SAVEPOINT fresh")
                    do throws(StoreError) {
                        try copy("COPY agents (\(Self.agentColumns)) FROM STDIN") { out in
                            for row in fresh { Self.copyRow(row, &out) }
                        }
                        try exec("RELEASE SAVEPOINT fresh")
                    } catch  where error.kind == .conflict {
                        // Another server (or an earlier life of this one) wrote some: upsert them all.
                        try exec("ROLLBACK TO SAVEPOINT fresh")
                        existing += fresh
                    }
                }
                if !existing.isEmpty {
                    try copy("COPY agents_stage FROM STDIN") { out in
                        for row in existing { Self.copyRow(row, &out) }
                    }
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
                            connection_settings_status = s.connection_settings_status, owner = s.owner
                        FROM agents_stage s WHERE agents.uid = s.uid
                        """)
                    if updated < existing.count {
                        try exec(
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
                                connection_settings_status = excluded.connection_settings_status, owner = excluded.owner
                            """)
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
                    let now = Clock.milliseconds()
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
                    [blob.hash, blob.kind, ConfigHash.hex(blob.body), String(config.updatedAt)])
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

    static let agentColumns = """
        uid, connected, first_seen, last_seen, capabilities, description, health, effective_config_hash, \
        remote_config_status, package_statuses, components_hash, custom_capabilities, connection_settings_status, owner
        """

    static func copyRow(_ row: AgentRow, _ out: inout [UInt8]) {
        CopyText.text(row.uid, &out)
        CopyText.int(row.connected ? 1 : 0, &out)
        CopyText.int(row.firstSeen, &out)
        CopyText.int(row.lastSeen, &out)
        CopyText.int(row.capabilities, &out)
        CopyText.bytes(row.description, &out)
        CopyText.bytes(row.health, &out)
        CopyText.text(row.effectiveConfigHash, &out)
        CopyText.bytes(row.remoteConfigStatus, &out)
        CopyText.bytes(row.packageStatuses, &out)
        CopyText.text(row.componentsHash, &out)
        CopyText.bytes(row.customCapabilities, &out)
        CopyText.bytes(row.connectionSettingsStatus, &out)
        CopyText.text(row.owner, &out, last: true)
    }

    /// Runs a statement and returns how many rows it touched.
    private func command(_ sql: String) throws(StoreError) -> Int {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw failure(result, "PostgreSQL") }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
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

/// PostgreSQL COPY text format: tab-separated, `\N` for NULL, backslash escapes, bytea as
/// `\\x…`. Each writer appends one field and its separator (a tab, or the newline after the last).
enum CopyText {
    static func text(_ s: String?, _ out: inout [UInt8], last: Bool = false) {
        if let s { escape(s, &out) } else { out.append(contentsOf: [92, 78]) }
        out.append(last ? 10 : 9)
    }

    static func int(_ n: Int64, _ out: inout [UInt8], last: Bool = false) {
        if n < 0 { out.append(45) }
        var v = n.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(48 + v % 10)
                v /= 10
                count += 1
            } while v > 0
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
        out.append(last ? 10 : 9)
    }

    static func bytes(_ b: [UInt8]?, _ out: inout [UInt8], last: Bool = false) {
        if let b {
            out.append(contentsOf: [92, 92, 120])
            ConfigHash.appendHex(b, to: &out)
        } else {
            out.append(contentsOf: [92, 78])
        }
        out.append(last ? 10 : 9)
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

    /// Decodes a bytea in hex output format (`\x…`).
    static func bytea(_ text: String?) -> [UInt8]? {
        guard let text else { return nil }
        guard text.hasPrefix("\\x") else { return Array(text.utf8) }
        return ConfigHash.bytes(hex: String(text.dropFirst(2)))
    }
}
