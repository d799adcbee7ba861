import CSQLite
import Foundation

/// One open SQLite connection; closed when the store lets go of it.
final class SQLiteConnection {
    let handle: OpaquePointer

    /// Opens (or creates) the database file at `path`.
    init(path: String) throws(StoreError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw StoreError(.unavailable, "cannot open SQLite database \(path): \(message)")
        }
        self.handle = handle
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit { sqlite3_close(handle) }
}

/// Statements, transactions and errors over the one connection.
extension SQLiteStore {
    // MARK: Plumbing

    /// The open connection's handle; nil once closed.
    var db: OpaquePointer? { connection?.handle }

    func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard db != nil else { throw StoreError(.unavailable, "the SQLite database is closed") }
        return try body()
    }

    func error(_ what: String) -> StoreError {
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

    func exec(_ sql: String) throws(StoreError) {
        if sqlite3_exec(db, sql, nil, nil, nil) != SQLITE_OK { throw error("SQLite") }
    }

    func transaction(_ body: () throws(StoreError) -> Void) throws(StoreError) {
        try exec("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try body()
            try exec("COMMIT")
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    func prepare(_ sql: String) throws(StoreError) -> Statement {
        var handle: OpaquePointer?
        if sqlite3_prepare_v2(db, sql, -1, &handle, nil) != SQLITE_OK { throw error("SQLite prepare") }
        return Statement(handle: handle)
    }

    func step(_ s: Statement) throws(StoreError) {
        let rc = sqlite3_step(s.handle)
        sqlite3_reset(s.handle)
        sqlite3_clear_bindings(s.handle)
        if rc != SQLITE_DONE && rc != SQLITE_ROW { throw error("SQLite") }
    }

    func query<T>(
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
        func bindOptional(_ i: Int32, _ v: Int64?) {
            if let v { bind(i, v) } else { _ = sqlite3_bind_null(handle, i) }
        }
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
        func optionalInt(_ i: Int32) -> Int64? {
            sqlite3_column_type(handle, i) == SQLITE_NULL ? nil : int(i)
        }
        func blob(_ i: Int32) -> [UInt8]? {
            guard sqlite3_column_type(handle, i) != SQLITE_NULL else { return nil }
            let n = Int(sqlite3_column_bytes(handle, i))
            guard n > 0, let p = sqlite3_column_blob(handle, i) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
    }
}

extension SQLiteStore {
    /// Statements with `$N` text parameters, in one transaction.
    public func execute(_ statements: [(sql: String, params: [String?])]) throws(StoreError) {
        try locked { () throws(StoreError) in
            try transaction { () throws(StoreError) in
                for statement in statements {
                    let s = try prepare(Self.positional(statement.sql))
                    defer { sqlite3_finalize(s.handle) }
                    for (i, value) in statement.params.enumerated() { s.bind(Int32(i + 1), value) }
                    try step(s)
                }
            }
        }
    }

    /// A query with `$N` text parameters; every column read as text.
    public func select(_ sql: String, _ params: [String?]) throws(StoreError) -> [[String?]] {
        try locked { () throws(StoreError) in
            try query(
                Self.positional(sql),
                bind: { s in for (i, value) in params.enumerated() { s.bind(Int32(i + 1), value) } }
            ) { s in
                (0..<sqlite3_column_count(s.handle)).map { s.optionalText($0) }
            }
        }
    }

    /// PostgreSQL's `$N` as SQLite's parameters: a bare `?` when they appear as `$1, $2, …` in
    /// order, each once (SQLite looks every `?N` up in a list of those seen before, so a
    /// statement of a thousand numbered parameters costs half a million comparisons to parse);
    /// `?N` otherwise (the same numbered parameter, in any order).
    static func positional(_ sql: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(sql.utf8.count)
        var expected = 1
        var inOrder = true
        var bytes = sql.utf8.makeIterator()
        var pending = bytes.next()
        while let byte = pending {
            pending = bytes.next()
            guard byte == UInt8(ascii: "$") else {
                out.append(byte)
                continue
            }
            var number = 0
            var digits = 0
            while let digit = pending, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") {
                number = number &* 10 &+ Int(digit - UInt8(ascii: "0"))
                digits += 1
                pending = bytes.next()
            }
            if digits == 0 || number != expected { inOrder = false }
            expected += 1
            guard inOrder else { return sql.replacingAll("$", "?") }
            out.append(UInt8(ascii: "?"))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
