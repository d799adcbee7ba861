import CLibPQ
import CSQLite

/// Fleet-management namespace: library versions for the start-up log.
public enum Fleet {
    /// Versions of the database client libraries Fleet links.
    public static var linkedLibraries: [(name: String, version: String)] {
        [
            ("libpq", String(PQlibVersion())),
            ("sqlite", String(cString: sqlite3_libversion())),
        ]
    }
}
