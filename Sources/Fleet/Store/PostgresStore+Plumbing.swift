import CLibPQ
import Foundation

/// One libpq session; finished when the store lets go of it.
final class PostgresConnection {
    let handle: OpaquePointer

    private init(_ handle: OpaquePointer) { self.handle = handle }

    /// A session to `conninfo`, or libpq's message when none could be made.
    static func open(_ conninfo: String) -> Result<PostgresConnection, OpenFailure> {
        guard let handle = PQconnectdb(conninfo) else { return .failure(OpenFailure(message: "out of memory")) }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle))
            PQfinish(handle)
            return .failure(OpenFailure(message: message))
        }
        return .success(PostgresConnection(handle))
    }

    /// Why a session could not be made.
    struct OpenFailure: Error {
        let message: String
    }

    /// Whether the session is still up.
    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    deinit { PQfinish(handle) }
}

/// Connection handling, COPY, queries and errors over the one connection.
extension PostgresStore {
    /// The session's handle; nil while disconnected.
    var conn: OpaquePointer? { connection?.handle }

    /// The payloads of the notifications received so far on the session's channels.
    func drainNotifications() -> [(channel: String, payload: String)] {
        var out: [(channel: String, payload: String)] = []
        while let note = PQnotifies(conn) {
            out.append((String(cString: note.pointee.relname), String(cString: note.pointee.extra)))
            PQfreemem(note)
        }
        return out
    }
    static let agentColumns = """
        uid, connected, first_seen, last_seen, capabilities, description, health, effective_config_hash, \
        remote_config_status, package_statuses, components_hash, custom_capabilities, connection_settings_status, owner, \
        fence, claimed_at, rolled_back_from
        """

    /// One `agentColumns` row in COPY binary format (`CopyBinary`).
    static func copyRow(_ row: AgentRow, _ out: inout [UInt8]) {
        CopyBinary.row(fields: 17, &out)
        CopyBinary.text(row.uid, &out)
        CopyBinary.int(row.connected ? 1 : 0, &out)
        CopyBinary.int(row.firstSeen, &out)
        CopyBinary.int(row.lastSeen, &out)
        CopyBinary.int(row.capabilities, &out)
        CopyBinary.bytes(row.description, &out)
        CopyBinary.bytes(row.health, &out)
        CopyBinary.text(row.effectiveConfigHash, &out)
        CopyBinary.bytes(row.remoteConfigStatus, &out)
        CopyBinary.bytes(row.packageStatuses, &out)
        CopyBinary.text(row.componentsHash, &out)
        CopyBinary.bytes(row.customCapabilities, &out)
        CopyBinary.bytes(row.connectionSettingsStatus, &out)
        CopyBinary.text(row.owner, &out)
        CopyBinary.int(row.fence, &out)
        CopyBinary.int(row.claimedAt, &out)
        CopyBinary.text(row.rolledBackFrom, &out)
    }

    /// COPY of agent rows into `table` in binary format.
    func copyAgents(into table: String, _ rows: [AgentRow]) throws(StoreError) {
        try copy("COPY \(table) (\(Self.agentColumns)) FROM STDIN (FORMAT binary)") { out in
            out.append(contentsOf: CopyBinary.header)
            for row in rows { Self.copyRow(row, &out) }
            out.append(contentsOf: CopyBinary.trailer)
        }
    }

    /// Runs a statement and returns how many rows it touched.
    func command(_ sql: String) throws(StoreError) -> Int {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw failure(result, "PostgreSQL") }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    // MARK: Plumbing

    func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        try connect()
        do throws(StoreError) {
            return try body()
        } catch {
            // A broken connection is rebuilt on the next call.
            if PQstatus(conn) != CONNECTION_OK {
                connection = nil
                throw StoreError(.unavailable, "PostgreSQL connection lost: \(error.message)")
            }
            throw error
        }
    }

    func prepareStaging() throws(StoreError) {
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

    func failure(_ result: OpaquePointer?, _ what: String) -> StoreError {
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

    func exec(_ sql: String) throws(StoreError) {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(result, "PostgreSQL") }
    }

    func rows(_ sql: String, _ params: [String?] = []) throws(StoreError) -> [[String?]] {
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

    func copy(_ sql: String, _ fill: (inout [UInt8]) -> Void) throws(StoreError) {
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

extension PostgresStore {
    /// Statements with `$N` text parameters, in one transaction.
    public func execute(_ statements: [(sql: String, params: [String?])]) throws(StoreError) {
        try locked { () throws(StoreError) in
            try exec("BEGIN")
            do throws(StoreError) {
                for statement in statements { _ = try rows(statement.sql, statement.params) }
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }

    /// A query with `$N` text parameters; every column as text.
    public func select(_ sql: String, _ params: [String?]) throws(StoreError) -> [[String?]] {
        try locked { () throws(StoreError) in try rows(sql, params) }
    }
}
