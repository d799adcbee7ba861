import CLibPQ
import CSQLite
import Foundation
import Testing

@testable import Fleet

/// Fresh databases for each test: a temporary SQLite file, or a new PostgreSQL database on the
/// server the test command started (AMPORA_TEST_POSTGRES_URL). Under CI=true a missing
/// PostgreSQL fails the run instead of skipping.
enum TestDatabases {
    static let postgresURL = ProcessInfo.processInfo.environment["AMPORA_TEST_POSTGRES_URL"]
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The backends to run a conformance test on.
    static var backends: [String] {
        postgresURL != nil || inCI ? ["sqlite", "postgres"] : ["sqlite"]
    }

    /// A URL for an empty database of `backend`.
    static func freshURL(_ backend: String) throws -> String {
        switch backend {
        case "sqlite":
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ampora-fleet-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return "sqlite:" + dir.appendingPathComponent("test.db").path
        default:
            guard let base = postgresURL else {
                Issue.record("AMPORA_TEST_POSTGRES_URL is not set: run the tests with `make test`")
                throw CancellationError()
            }
            let name = "ampora_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try postgres(base, "CREATE DATABASE \(name)")
            return base.replacingLastPathComponent(with: name)
        }
    }

    /// Runs one statement on a PostgreSQL URL.
    static func postgres(_ url: String, _ sql: String) throws {
        let conn = PQconnectdb(url)
        defer { PQfinish(conn) }
        guard PQstatus(conn) == CONNECTION_OK else {
            throw StoreError(.unavailable, String(cString: PQerrorMessage(conn)))
        }
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw StoreError(.failed, String(cString: PQresultErrorMessage(result)))
        }
    }

    /// Runs statements on a SQLite file.
    static func sqlite(_ path: String, _ sql: String) {
        var db: OpaquePointer?
        sqlite3_open(path, &db)
        sqlite3_exec(db, sql, nil, nil, nil)
        sqlite3_close(db)
    }
}

extension String {
    func replacingLastPathComponent(with name: String) -> String {
        var base = self
        var query = ""
        if let q = base.firstIndex(of: "?") {
            query = String(base[q...])
            base = String(base[..<q])
        }
        guard let slash = base.lastIndex(of: "/"), base[..<slash].hasSuffix("//") == false else {
            return base + "/" + name + query
        }
        return String(base[...slash]) + name + query
    }
}
