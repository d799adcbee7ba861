import CLibPQ
import Foundation

/// Forward-only migrations (`Schema.migrations`), one server at a time.
extension PostgresStore {
    // MARK: Migrations

    func migrate() throws(StoreError) {
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
}
