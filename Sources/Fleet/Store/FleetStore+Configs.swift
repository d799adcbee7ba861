/// One row of `config_versions`: a version's metadata (its file map is the blob named by `hash`).
struct ConfigVersionRow: Sendable, Equatable {
    var name: String
    var version: Int64
    var hash: String
    var createdAt: Int64
    /// NULL for versions stored before migration 4.
    var author: String?
    var message: String?
    var draft: Bool
    /// JSON array of `ConfigFinding`s; NULL before migration 4.
    var findings: String?
}

// Config versions are written when an operator acts, a row at a time, so plain SQL through
// `execute`/`select`, the same text for both backends.
extension FleetStore {
    private static var versionColumns: String {
        "name, version, hash, created_at, author, message, draft, findings"
    }

    private static func versionRow(_ r: [String?]) -> ConfigVersionRow {
        ConfigVersionRow(
            name: r[0] ?? "", version: Int64(r[1] ?? "") ?? 0, hash: r[2] ?? "", createdAt: Int64(r[3] ?? "") ?? 0,
            author: r[4], message: r[5], draft: r[6] == "1", findings: r[7])
    }

    /// Versions of `name`, newest first: at most `limit`, older than `before` when given.
    func configVersions(name: String, limit: Int, before: Int64? = nil) throws(StoreError) -> [ConfigVersionRow] {
        try select(
            """
            SELECT \(Self.versionColumns) FROM config_versions
            WHERE name = $1 AND version < CAST($2 AS BIGINT) ORDER BY version DESC LIMIT CAST($3 AS BIGINT)
            """, [name, String(before ?? Int64.max), String(limit)]
        ).map(Self.versionRow)
    }

    /// One version of `name`.
    func configVersion(name: String, version: Int64) throws(StoreError) -> ConfigVersionRow? {
        try select(
            "SELECT \(Self.versionColumns) FROM config_versions WHERE name = $1 AND version = CAST($2 AS BIGINT)",
            [name, String(version)]
        ).first.map(Self.versionRow)
    }

    /// Stores a new version with its blob, and makes it the config's current version when
    /// `current` is given: all in one transaction. A version number taken meanwhile (another
    /// server on the same database) is a `.conflict`, not an overwrite.
    func saveConfigVersion(_ row: ConfigVersionRow, blob: BlobRow, current: ConfigRow?) throws(StoreError) {
        var statements: [(sql: String, params: [String?])] = [
            (
                "INSERT INTO config_versions (\(Self.versionColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [
                    row.name, String(row.version), row.hash, String(row.createdAt), row.author, row.message,
                    row.draft ? "1" : "0", row.findings,
                ]
            )
        ]
        if let current { statements.append(Self.makeCurrent(current)) }
        try execute(statements, storing: [blob], at: row.createdAt)
    }

    /// Publishes version `version` (a draft, or an older published one) as the config's current
    /// version, with the findings of its check at publication.
    func publishConfigVersion(_ current: ConfigRow, findings: String) throws(StoreError) {
        try execute([
            (
                "UPDATE config_versions SET draft = 0, findings = $3 WHERE name = $1 AND version = CAST($2 AS BIGINT)",
                [current.name, String(current.version), findings]
            ),
            Self.makeCurrent(current),
        ])
    }

    private static func makeCurrent(_ config: ConfigRow) -> (sql: String, params: [String?]) {
        (
            """
            INSERT INTO configs (name, hash, version, updated_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version,
                updated_at = excluded.updated_at, deleted_at = NULL
            """, [config.name, config.hash, String(config.version), String(config.updatedAt)]
        )
    }
}
