import CLibPQ
import Foundation
import Synchronization

/// The production backend: PostgreSQL through libpq. Batches travel by COPY into per-session
/// staging tables and one upsert each, inside a single transaction.
/// Safe to share: after init, `connection` and `stagingReady` are only touched while holding
/// `lock`.
public final class PostgresStore: FleetStore, @unchecked Sendable {
    let lock = NSLock()
    var connection: PostgresConnection?
    let conninfo: String
    let shownURL: String
    var stagingReady = false
    /// This instance's id while other instances are alive: each batch then records the agents
    /// it changed in `agent_changes` and announces the range on `changesChannel`, as this id
    /// (see `PeerFeed`); nil otherwise.
    let announcer = Mutex<String?>(nil)
    /// The channel that announces changed agents.
    static let changesChannel = "ampora_agents"
    /// The channel that points instances at their actions.
    static let actionsChannel = "ampora_actions"

    /// `postgres`.
    public var backend: String { "postgres" }

    /// Connects to `url` and migrates the schema.
    public init(url: String) throws(StoreError) {
        conninfo = url.contains("connect_timeout=") ? url : url + (url.contains("?") ? "&" : "?") + "connect_timeout=5"
        shownURL = Self.redact(url)
        lock.lock()
        defer { lock.unlock() }
        try connect()
        try migrate()
    }

    /// Closes the connection.
    public func close() {
        lock.withLock { connection = nil }
    }

    /// The URL without its password, for messages.
    static func redact(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    func connect() throws(StoreError) {
        if let connection, connection.isOK { return }
        connection = nil
        stagingReady = false
        switch PostgresConnection.open(conninfo) {
        case .success(let opened): connection = opened
        case .failure(let failure):
            let message = failure.message.trimmingCharacters(in: .whitespacesAndNewlines)
            throw StoreError(.unavailable, "cannot connect to PostgreSQL \(shownURL): \(message)")
        }
        _ = try? exec("SET client_min_messages = warning")
    }

    // MARK: FleetStore

    /// Every agent snapshot.
    public func loadAgents() throws(StoreError) -> [AgentRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT \(Self.agentColumns) FROM agents WHERE deleted_at IS NULL ORDER BY uid").map(Self.agentRow)
        }
    }

    /// An `agents` row read as `agentColumns`.
    static func agentRow(_ r: [String?]) -> AgentRow {
        var row = AgentRow(uid: r[0] ?? "")
        row.connected = r[1] != "0"
        row.firstSeen = Int64(r[2] ?? "") ?? 0
        row.lastSeen = Int64(r[3] ?? "") ?? 0
        row.capabilities = Int64(r[4] ?? "") ?? 0
        row.description = CopyText.bytea(r[5])
        row.health = CopyText.bytea(r[6])
        row.effectiveConfigHash = r[7]
        row.remoteConfigStatus = CopyText.bytea(r[8])
        row.packageStatuses = CopyText.bytea(r[9])
        row.componentsHash = r[10]
        row.customCapabilities = CopyText.bytea(r[11])
        row.connectionSettingsStatus = CopyText.bytea(r[12])
        row.owner = r[13] ?? ""
        row.fence = Int64(r[14] ?? "") ?? 0
        row.claimedAt = Int64(r[15] ?? "") ?? 0
        row.rolledBackFrom = r[16]
        return row
    }

    /// Marks every agent of `owner` disconnected.
    public func markDisconnected(owner: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows("UPDATE agents SET connected = 0 WHERE owner = $1 AND connected <> 0", [owner])
        }
    }

    /// The newest `limit` history events of an agent, newest first.
    public func history(uid: String, limit: Int) throws(StoreError) -> [HistoryRow] {
        try locked { () throws(StoreError) in
            try rows(
                "SELECT uid, at, kind, detail FROM agent_history WHERE uid = $1 ORDER BY id DESC LIMIT $2",
                [uid, String(limit)]
            ).map { HistoryRow(uid: $0[0] ?? "", at: Int64($0[1] ?? "") ?? 0, kind: $0[2] ?? "", detail: $0[3] ?? "") }
        }
    }

    /// A blob by hash.
    public func blob(hash: String) throws(StoreError) -> BlobRow? {
        try locked { () throws(StoreError) in
            try rows("SELECT hash, kind, body FROM blobs WHERE hash = $1", [hash]).first.map {
                BlobRow(hash: $0[0] ?? "", kind: $0[1] ?? "", body: CopyText.bytea($0[2]) ?? [])
            }
        }
    }

    /// Number of blobs of a kind.
    public func blobCount(kind: String) throws(StoreError) -> Int {
        try locked { () throws(StoreError) in
            Int(try rows("SELECT COUNT(*) FROM blobs WHERE kind = $1", [kind]).first?[0] ?? "") ?? 0
        }
    }

    /// Stores a config version and its blob.
    public func saveConfig(_ config: ConfigRow, blob: BlobRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            try exec("BEGIN")
            do throws(StoreError) {
                _ = try rows(
                    "INSERT INTO blobs (hash, kind, body, created_at) VALUES ($1, $2, decode($3, 'hex'), $4) ON CONFLICT DO NOTHING",
                    [blob.hash, blob.kind, ConfigHash.hex(blob.body), String(config.updatedAt)])
                _ = try rows(
                    """
                    INSERT INTO configs (name, hash, version, updated_at) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, version = excluded.version,
                        updated_at = excluded.updated_at, deleted_at = NULL
                    """, [config.name, config.hash, String(config.version), String(config.updatedAt)])
                _ = try rows(
                    "INSERT INTO config_versions (name, version, hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    [config.name, String(config.version), config.hash, String(config.updatedAt)])
                try exec("COMMIT")
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }

    /// Every named config.
    public func loadConfigs() throws(StoreError) -> [ConfigRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT name, hash, version, updated_at FROM configs WHERE deleted_at IS NULL ORDER BY name").map {
                ConfigRow(
                    name: $0[0] ?? "", hash: $0[1] ?? "", version: Int64($0[2] ?? "") ?? 0,
                    updatedAt: Int64($0[3] ?? "") ?? 0)
            }
        }
    }

    /// Stores an assignment.
    public func saveAssignment(_ a: AssignmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows(
                "INSERT INTO assignments (id, config, hash, selector, uids, seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    a.id, a.config, a.hash, StoreJSON.encode(a.selector), StoreJSON.encode(a.uids), String(a.sequence),
                    String(a.createdAt),
                ])
        }
    }

    /// Every assignment, oldest first.
    public func loadAssignments() throws(StoreError) -> [AssignmentRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT id, config, hash, selector, uids, seq, created_at FROM assignments ORDER BY seq, id").map {
                r in
                AssignmentRow(
                    id: r[0] ?? "", config: r[1] ?? "", hash: r[2] ?? "", selector: StoreJSON.decodeMap(r[3] ?? "{}"),
                    uids: StoreJSON.decodeList(r[4] ?? "[]"), sequence: Int64(r[5] ?? "") ?? 0,
                    createdAt: Int64(r[6] ?? "") ?? 0)
            }
        }
    }

    /// Stores a binding unless the uid already has one.
    public func saveIdentity(_ row: IdentityRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows(
                "INSERT INTO agent_identities (uid, identity, bound_at) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING",
                [row.uid, row.identity, String(row.boundAt)])
        }
    }

    /// Every binding.
    public func loadIdentities() throws(StoreError) -> [IdentityRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT uid, identity, bound_at FROM agent_identities").map { r in
                IdentityRow(uid: r[0] ?? "", identity: r[1] ?? "", boundAt: Int64(r[2] ?? "") ?? 0)
            }
        }
    }

    /// Stores a new enrollment token.
    public func saveToken(_ row: EnrollmentRow) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows(
                "INSERT INTO enrollment_tokens (hash, labels, uses_left, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
                [
                    row.hash, StoreJSON.encode(row.labels), row.usesLeft.map(String.init),
                    row.expiresAt.map(String.init), String(row.createdAt),
                ])
        }
    }

    /// Every enrollment token.
    public func loadTokens() throws(StoreError) -> [EnrollmentRow] {
        try locked { () throws(StoreError) in
            try rows("SELECT hash, labels, uses_left, expires_at, created_at FROM enrollment_tokens").map { r in
                EnrollmentRow(
                    hash: r[0] ?? "", labels: StoreJSON.decodeMap(r[1] ?? "{}"), usesLeft: r[2].flatMap { Int64($0) },
                    expiresAt: r[3].flatMap { Int64($0) }, createdAt: Int64(r[4] ?? "") ?? 0)
            }
        }
    }

    /// Removes the binding of `uid`.
    public func deleteIdentity(uid: String) throws(StoreError) {
        try locked { () throws(StoreError) in
            _ = try rows("DELETE FROM agent_identities WHERE uid = $1", [uid])
        }
    }
}
