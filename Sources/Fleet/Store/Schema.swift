/// Forward-only migrations, one list for both backends: `%BLOB%`, `%INT%` and `%SERIAL%` are
/// spelled per dialect. A migration, once released, is never edited; add a new one.
enum Schema {
    /// The newest version this server knows.
    static var latest: Int { migrations.count }

    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE agents (
                uid TEXT PRIMARY KEY,
                connected %INT% NOT NULL,
                first_seen %INT% NOT NULL,
                last_seen %INT% NOT NULL,
                capabilities %INT% NOT NULL,
                description %BLOB%,
                health %BLOB%,
                effective_config_hash TEXT,
                remote_config_status %BLOB%,
                package_statuses %BLOB%,
                components_hash TEXT,
                custom_capabilities %BLOB%,
                connection_settings_status %BLOB%,
                owner TEXT NOT NULL,
                deleted_at %INT%
            )%AGENTS_STORAGE%
            """,
            """
            CREATE TABLE agent_history (
                id %SERIAL%,
                uid TEXT NOT NULL,
                at %INT% NOT NULL,
                kind TEXT NOT NULL,
                detail TEXT NOT NULL
            )
            """,
            "CREATE INDEX agent_history_by_uid ON agent_history (uid, id)",
            """
            CREATE TABLE blobs (
                hash TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                body %BLOB% NOT NULL,
                created_at %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE configs (
                name TEXT PRIMARY KEY,
                hash TEXT NOT NULL,
                version %INT% NOT NULL,
                updated_at %INT% NOT NULL,
                deleted_at %INT%
            )
            """,
            """
            CREATE TABLE config_versions (
                name TEXT NOT NULL,
                version %INT% NOT NULL,
                hash TEXT NOT NULL,
                created_at %INT% NOT NULL,
                PRIMARY KEY (name, version)
            )
            """,
            """
            CREATE TABLE assignments (
                id TEXT PRIMARY KEY,
                config TEXT NOT NULL,
                hash TEXT NOT NULL,
                selector TEXT NOT NULL,
                uids TEXT NOT NULL,
                seq %INT% NOT NULL,
                created_at %INT% NOT NULL
            )
            """,
        ],
        [
            """
            CREATE TABLE agent_identities (
                uid TEXT PRIMARY KEY,
                identity TEXT NOT NULL,
                bound_at %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE enrollment_tokens (
                hash TEXT PRIMARY KEY,
                labels TEXT NOT NULL,
                uses_left %INT%,
                expires_at %INT%,
                created_at %INT% NOT NULL
            )
            """,
        ],
        [
            // One row (id 1): the CA's certificate, and its key either here (PKCS #8, encrypted
            // when key_encrypted is 1) or in the file key_file names.
            """
            CREATE TABLE certificate_authority (
                id %INT% PRIMARY KEY,
                certificate TEXT NOT NULL,
                private_key TEXT,
                key_encrypted %INT% NOT NULL,
                key_file TEXT,
                created_at %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE agent_certificates (
                serial TEXT PRIMARY KEY,
                uid TEXT NOT NULL,
                identity TEXT NOT NULL,
                certificate TEXT NOT NULL,
                public_key TEXT NOT NULL,
                not_before %INT% NOT NULL,
                not_after %INT% NOT NULL,
                revoked_at %INT%
            )
            """,
            "CREATE INDEX agent_certificates_by_uid ON agent_certificates (uid)",
            """
            CREATE TABLE revoked_identities (
                identity TEXT PRIMARY KEY,
                uid TEXT NOT NULL,
                revoked_at %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE agent_labels (
                uid TEXT PRIMARY KEY,
                labels TEXT NOT NULL
            )
            """,
        ],
        [
            // Config versions as published or draft file maps, with who, why and what the
            // Toolkit found.
            "ALTER TABLE config_versions ADD COLUMN author TEXT",
            "ALTER TABLE config_versions ADD COLUMN message TEXT",
            "ALTER TABLE config_versions ADD COLUMN draft %INT% NOT NULL DEFAULT 0",
            "ALTER TABLE config_versions ADD COLUMN findings TEXT",
        ],
        [
            // Rollouts and their agents: `pin` is the hash a member is given when its stage
            // starts ('' for a rollback member with nothing to go back to), `previous` what it
            // had applied then.
            """
            CREATE TABLE rollouts (
                id TEXT PRIMARY KEY,
                spec TEXT NOT NULL,
                state TEXT NOT NULL,
                stage %INT% NOT NULL,
                stages %INT% NOT NULL,
                reason TEXT,
                etag %INT% NOT NULL,
                stage_done_at %INT%,
                rollback_of TEXT,
                created_at %INT% NOT NULL,
                updated_at %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE rollout_agents (
                rollout TEXT NOT NULL,
                uid TEXT NOT NULL,
                stage %INT% NOT NULL,
                pin TEXT NOT NULL,
                previous TEXT,
                PRIMARY KEY (rollout, uid)
            )
            """,
            """
            CREATE TABLE agent_groups (
                name TEXT PRIMARY KEY,
                selector TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at %INT% NOT NULL,
                updated_at %INT% NOT NULL
            )
            """,
        ],
        [
            // The operator plane: personal access tokens (only their hash) and the audit trail,
            // which refuses updates (rows leave only by the retention policy).
            """
            CREATE TABLE operator_tokens (
                hash TEXT PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                prefix TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at %INT% NOT NULL,
                expires_at %INT%,
                last_used_at %INT%,
                revoked_at %INT%
            )
            """,
            """
            CREATE TABLE audit_log (
                id %SERIAL%,
                at %INT% NOT NULL,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                before_value TEXT,
                after_value TEXT,
                request_id TEXT NOT NULL,
                source TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status %INT% NOT NULL,
                detail TEXT NOT NULL
            )
            """,
            "CREATE INDEX audit_log_by_time ON audit_log (at)",
            "%AUDIT_APPEND_ONLY%",
        ],
        [
            // Several servers on one database (docs/ARCHITECTURE.md, "Several instances"): an
            // agent's row is owned by the claim of its newest connection, `claimed_at` (when that
            // connection began) and `fence` (the epoch of the instance process that holds it); a
            // write with an older claim is refused. `instances` is each server's heartbeat and
            // `cluster_leader` the fencing token of the instance doing the periodic work.
            "ALTER TABLE agents ADD COLUMN fence %INT% NOT NULL DEFAULT 0",
            "ALTER TABLE agents ADD COLUMN claimed_at %INT% NOT NULL DEFAULT 0",
            """
            CREATE TABLE instances (
                id TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                epoch %INT% NOT NULL,
                started_at %INT% NOT NULL,
                last_heartbeat %INT% NOT NULL,
                agents %INT% NOT NULL
            )
            """,
            """
            CREATE TABLE cluster_leader (
                id %INT% PRIMARY KEY,
                instance TEXT NOT NULL,
                token %INT% NOT NULL,
                since %INT% NOT NULL
            )
            """,
            "INSERT INTO cluster_leader VALUES (1, '', 0, 0)",
            "CREATE TABLE cluster_epochs (id %INT% PRIMARY KEY, value %INT% NOT NULL)",
            "INSERT INTO cluster_epochs VALUES (1, 0)",
            // The agents each write batch changed, while other instances are alive to read them
            // (the revision range goes out by NOTIFY at commit).
            "CREATE TABLE agent_changes (revision %SERIAL%, uid TEXT NOT NULL, at %INT% NOT NULL)",
            // Operator actions for the instance that holds an agent (or for every instance: '*'),
            // pointed at by a notification on `ampora_actions`.
            """
            CREATE TABLE cluster_actions (
                id %SERIAL%,
                sender TEXT NOT NULL,
                target TEXT NOT NULL,
                kind TEXT NOT NULL,
                uids TEXT NOT NULL,
                body TEXT NOT NULL,
                at %INT% NOT NULL
            )
            """,
        ],
        [
            // Agent uids compared byte by byte instead of through the database's locale: every
            // probe of the uid index in a write batch paid a strcoll per comparison, about a
            // quarter of the status UPDATE's time (BENCHMARKS.md, "Status writes in binary"). Canonical UUIDs
            // sort the same either way; SQLite's default collation already compares bytes.
            "%AGENTS_UID_BYTES%"
        ],
        [
            // Agents an operator revoked: refused whatever certificate or token they present,
            // so that a revoked agent cannot enroll again or sign a new CSR, until readmitted.
            """
            CREATE TABLE revoked_agents (
                uid TEXT PRIMARY KEY,
                revoked_at %INT% NOT NULL
            )
            """,
            // Agents whose certificates were revoked before this table existed are refused too.
            "INSERT INTO revoked_agents (uid, revoked_at) SELECT uid, MIN(revoked_at) FROM revoked_identities GROUP BY uid",
        ],
        [
            // What a resumed rollout's gates discount (the stage's failures an operator chose to
            // go past): kept with the rollout, so that the instance that leads, or a restarted
            // one, does not pause it again for the same failures.
            "ALTER TABLE rollouts ADD COLUMN gate_baseline TEXT NOT NULL DEFAULT ''"
        ],
        [
            // The config an agent failed and went back from (`AgentRow.rolledBackFrom`): after a
            // restart it is not offered again to an agent that still runs the one it went back to.
            "ALTER TABLE agents ADD COLUMN rolled_back_from TEXT"
        ],
    ]

    /// Statements one dialect spells so differently that a placeholder stands for all of them.
    static func dialectStatements(_ sql: String, postgres: Bool) -> [String] {
        if sql == "%AGENTS_UID_BYTES%" {
            // Rebuilds the uid index, not the table.
            return postgres ? ["ALTER TABLE agents ALTER COLUMN uid TYPE TEXT COLLATE \"C\""] : []
        }
        guard sql == "%AUDIT_APPEND_ONLY%" else { return [sql] }
        if postgres {
            return [
                """
                CREATE FUNCTION ampora_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                """,
                """
                CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION ampora_audit_append_only()
                """,
            ]
        }
        return [
            """
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """
        ]
    }

    /// The statements of migration `index` (0-based) for a dialect.
    static func statements(_ index: Int, postgres: Bool) -> [String] {
        migrations[index].flatMap { dialectStatements($0, postgres: postgres) }.map { sql in
            sql.replacingAll("%BLOB%", postgres ? "BYTEA" : "BLOB")
                .replacingAll("%INT%", postgres ? "BIGINT" : "INTEGER")
                .replacingAll("%SERIAL%", postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY")
                // Room on each page lets a status update stay on its page without touching the
                // uid index (PostgreSQL HOT updates): agents rows are rewritten far more than inserted.
                .replacingAll("%AGENTS_STORAGE%", postgres ? " WITH (fillfactor = 60)" : "")
        }
    }

    /// The marker table: its presence (with our name in it) tells an Ampora database from a foreign one.
    static let metaTable = "ampora_meta"
    static let tablesWeOwn: Set<String> = [
        "ampora_meta", "agents", "agent_history", "blobs", "configs", "config_versions", "assignments",
        "agent_identities", "enrollment_tokens", "certificate_authority", "agent_certificates",
        "revoked_identities", "revoked_agents", "agent_labels", "rollouts", "rollout_agents",
        "agent_groups", "operator_tokens", "audit_log", "instances", "cluster_leader", "cluster_epochs",
        "agent_changes", "cluster_actions",
    ]
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
