import CSQLite
import Foundation

/// The embedded backend: one SQLite file in WAL mode, one connection behind a lock.
/// Safe to share: after init, `connection` is only touched while holding `lock` (`locked`,
/// `close`).
public final class SQLiteStore: FleetStore, @unchecked Sendable {
    let lock = NSLock()
    var connection: SQLiteConnection?
    let path: String

    /// `sqlite`.
    public var backend: String { "sqlite" }

    /// The heap SQLite holds in this process (every connection's page cache, statements and
    /// schemas): a server's memory that grows with the database and not with its agents.
    public static var heapBytes: Int { Int(sqlite3_memory_used()) }

    /// Opens (or creates) the database at `path` and migrates it.
    public init(path: String) throws(StoreError) {
        self.path = path
        connection = try SQLiteConnection(path: path)
        do throws(StoreError) {
            try exec("PRAGMA journal_mode=WAL")
            try exec("PRAGMA synchronous=NORMAL")
            // Batches touch pages all over the agents index: keep them in memory between batches.
            try exec("PRAGMA cache_size=-65536")
            try exec("PRAGMA foreign_keys=ON")
            try migrate()
        } catch {
            connection = nil
            if error.kind == .incompatible { throw error }
            throw StoreError(.incompatible, "\(path) is not a usable Ampora SQLite database: \(error.message)")
        }
    }

    /// Holds the lock that keeps a second server off this file (released when the process
    /// ends); touched only while holding `lock`.
    private var servingDescriptor: Int32 = -1

    deinit {
        if servingDescriptor >= 0 { Glibc.close(servingDescriptor) }
    }

    /// Claims the file for one serving process: a second `ampora serve` on it would have two
    /// inventories overwrite each other's rows. Other tools (`ampora token`) may still open it.
    public func lockForServing() throws(StoreError) {
        lock.lock()
        defer { lock.unlock() }
        do {
            // An in-memory database is this process's own.
            guard servingDescriptor < 0, path != ":memory:", !path.contains("mode=memory") else { return }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError(.unavailable, "cannot open \(path) to lock it: errno \(errno)") }
            // flock, not fcntl: SQLite's own locks are fcntl locks, which this must not disturb.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                Glibc.close(fd)
                throw StoreError(
                    .unavailable,
                    "\(path) is in use by another ampora serve: one server per SQLite file "
                        + "(several instances share a PostgreSQL database)")
            }
            servingDescriptor = fd
        }
    }

    /// Closes the connection.
    public func close() {
        lock.withLock { connection = nil }
    }

    // MARK: FleetStore

    /// Every agent snapshot.
    public func loadAgents() throws(StoreError) -> [AgentRow] {
        try locked { () throws(StoreError) in
            try query(
                """
                SELECT uid, connected, first_seen, last_seen, capabilities, description, health,
                    effective_config_hash, remote_config_status, package_statuses, components_hash,
                    custom_capabilities, connection_settings_status, owner, rolled_back_from
                FROM agents WHERE deleted_at IS NULL ORDER BY uid
                """
            ) { r in
                var row = AgentRow(uid: r.text(0))
                row.connected = r.int(1) != 0
                row.firstSeen = r.int(2)
                row.lastSeen = r.int(3)
                row.capabilities = r.int(4)
                row.description = r.blob(5)
                row.health = r.blob(6)
                row.effectiveConfigHash = r.optionalText(7)
                row.remoteConfigStatus = r.blob(8)
                row.packageStatuses = r.blob(9)
                row.componentsHash = r.optionalText(10)
                row.customCapabilities = r.blob(11)
                row.connectionSettingsStatus = r.blob(12)
                row.owner = r.text(13)
                row.rolledBackFrom = r.optionalText(14)
                return row
            }
        }
    }

    /// Marks every agent of `owner` disconnected.
    public func markDisconnected(owner: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare("UPDATE agents SET connected = 0 WHERE owner = ?1 AND connected <> 0")
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, owner)
            try step(s)
        }
    }

    /// The newest `limit` history events of an agent, newest first.
    public func history(uid: String, limit: Int) throws(StoreError) -> [HistoryRow] {
        try locked { () throws(StoreError) in
            try query(
                "SELECT uid, at, kind, detail FROM agent_history WHERE uid = ?1 ORDER BY id DESC LIMIT ?2",
                bind: {
                    $0.bind(1, uid)
                    $0.bind(2, Int64(limit))
                }
            ) { r in HistoryRow(uid: r.text(0), at: r.int(1), kind: r.text(2), detail: r.text(3)) }
        }
    }

    /// A blob by hash.
    public func blob(hash: String) throws(StoreError) -> BlobRow? {
        try locked { () throws(StoreError) in
            try query("SELECT hash, kind, body FROM blobs WHERE hash = ?1", bind: { $0.bind(1, hash) }) { r in
                BlobRow(hash: r.text(0), kind: r.text(1), body: r.blob(2) ?? [])
            }.first
        }
    }

    /// Number of blobs of a kind.
    public func blobCount(kind: String) throws(StoreError) -> Int {
        try locked { () throws(StoreError) in
            Int(
                try query("SELECT COUNT(*) FROM blobs WHERE kind = ?1", bind: { $0.bind(1, kind) }) { $0.int(0) }.first
                    ?? 0)
        }
    }

    /// Stores a config version and its blob.
    public func saveConfig(_ config: ConfigRow, blob: BlobRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            try transaction { () throws(StoreError) in
                let b = try prepare(
                    "INSERT INTO blobs (hash, kind, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
                defer { sqlite3_finalize(b.handle) }
                b.bind(1, blob.hash)
                b.bind(2, blob.kind)
                b.bind(3, blob.body)
                b.bind(4, config.updatedAt)
                try step(b)
                let c = try prepare(
                    """
                    INSERT INTO configs (name, hash, version, updated_at) VALUES (?1, ?2, ?3, ?4)
                    ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version,
                        updated_at = excluded.updated_at, deleted_at = NULL
                    """)
                defer { sqlite3_finalize(c.handle) }
                c.bind(1, config.name)
                c.bind(2, config.hash)
                c.bind(3, config.version)
                c.bind(4, config.updatedAt)
                try step(c)
                let v = try prepare(
                    "INSERT INTO config_versions (name, version, hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
                )
                defer { sqlite3_finalize(v.handle) }
                v.bind(1, config.name)
                v.bind(2, config.version)
                v.bind(3, config.hash)
                v.bind(4, config.updatedAt)
                try step(v)
            }
        }
    }

    /// Every named config.
    public func loadConfigs() throws(StoreError) -> [ConfigRow] {
        try locked { () throws(StoreError) in
            try query("SELECT name, hash, version, updated_at FROM configs WHERE deleted_at IS NULL ORDER BY name") {
                ConfigRow(name: $0.text(0), hash: $0.text(1), version: $0.int(2), updatedAt: $0.int(3))
            }
        }
    }

    /// Stores an assignment.
    public func saveAssignment(_ a: AssignmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare(
                "INSERT INTO assignments (id, config, hash, selector, uids, seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            )
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, a.id)
            s.bind(2, a.config)
            s.bind(3, a.hash)
            s.bind(4, StoreJSON.encode(a.selector))
            s.bind(5, StoreJSON.encode(a.uids))
            s.bind(6, a.sequence)
            s.bind(7, a.createdAt)
            try step(s)
        }
    }

    /// Every assignment, oldest first.
    public func loadAssignments() throws(StoreError) -> [AssignmentRow] {
        try locked { () throws(StoreError) in
            try query("SELECT id, config, hash, selector, uids, seq, created_at FROM assignments ORDER BY seq, id") {
                r in
                AssignmentRow(
                    id: r.text(0), config: r.text(1), hash: r.text(2), selector: StoreJSON.decodeMap(r.text(3)),
                    uids: StoreJSON.decodeList(r.text(4)), sequence: r.int(5), createdAt: r.int(6))
            }
        }
    }

    /// Stores a binding unless the uid already has one.
    public func saveIdentity(_ row: IdentityRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare(
                "INSERT INTO agent_identities (uid, identity, bound_at) VALUES (?1, ?2, ?3) ON CONFLICT (uid) DO NOTHING"
            )
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, row.uid)
            s.bind(2, row.identity)
            s.bind(3, row.boundAt)
            try step(s)
        }
    }

    /// Every binding.
    public func loadIdentities() throws(StoreError) -> [IdentityRow] {
        try locked { () throws(StoreError) in
            try query("SELECT uid, identity, bound_at FROM agent_identities") { r in
                IdentityRow(uid: r.text(0), identity: r.text(1), boundAt: r.int(2))
            }
        }
    }

    /// Stores a new enrollment token.
    public func saveToken(_ row: EnrollmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare(
                "INSERT INTO enrollment_tokens (hash, labels, uses_left, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
            )
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, row.hash)
            s.bind(2, StoreJSON.encode(row.labels))
            s.bindOptional(3, row.usesLeft)
            s.bindOptional(4, row.expiresAt)
            s.bind(5, row.createdAt)
            try step(s)
        }
    }

    /// Every enrollment token.
    public func loadTokens() throws(StoreError) -> [EnrollmentRow] {
        try locked { () throws(StoreError) in
            try query("SELECT hash, labels, uses_left, expires_at, created_at FROM enrollment_tokens") { r in
                EnrollmentRow(
                    hash: r.text(0), labels: StoreJSON.decodeMap(r.text(1)), usesLeft: r.optionalInt(2),
                    expiresAt: r.optionalInt(3), createdAt: r.int(4))
            }
        }
    }

    /// Removes the binding of `uid`.
    public func deleteIdentity(uid: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            let s = try prepare("DELETE FROM agent_identities WHERE uid = ?1")
            defer { sqlite3_finalize(s.handle) }
            s.bind(1, uid)
            try step(s)
        }
    }
}
