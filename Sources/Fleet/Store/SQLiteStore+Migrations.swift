import CSQLite
import Foundation

/// Forward-only migrations (`Schema.migrations`) for the SQLite file.
extension SQLiteStore {
    // MARK: Migrations

    func migrate() throws(StoreError) {
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
}
