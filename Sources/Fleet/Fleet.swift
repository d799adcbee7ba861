import CLibPQ
import CSQLite

/// Fleet-management namespace; inventory and persistence arrive with the Fleet issue.
public enum Fleet {
    /// Versions of the database client libraries Fleet links.
    public static var linkedLibraries: [(name: String, version: String)] {
        [
            ("libpq", String(PQlibVersion())),
            ("sqlite", String(cString: sqlite3_libversion())),
        ]
    }
}
