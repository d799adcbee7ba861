/// The persisted snapshot of one agent (status parts as encoded protobuf messages).
public struct AgentRow: Sendable, Equatable {
    /// Canonical UUID text.
    public var uid: String
    /// Whether a connection of this server held the agent when the row was written.
    public var connected = false
    /// Milliseconds since the Unix epoch.
    public var firstSeen: Int64 = 0
    /// Milliseconds since the Unix epoch.
    public var lastSeen: Int64 = 0
    /// `AgentCapabilities` bits.
    public var capabilities: Int64 = 0
    /// Encoded `AgentDescription`.
    public var description: [UInt8]?
    /// Encoded `ComponentHealth`.
    public var health: [UInt8]?
    /// Hex SHA-256 of the effective config map (the blob is in the blob table).
    public var effectiveConfigHash: String?
    /// Encoded `RemoteConfigStatus`.
    public var remoteConfigStatus: [UInt8]?
    /// Encoded `PackageStatuses`.
    public var packageStatuses: [UInt8]?
    /// Hex hash of the available components (the full map is a blob).
    public var componentsHash: String?
    /// Encoded `CustomCapabilities`.
    public var customCapabilities: [UInt8]?
    /// Encoded `ConnectionSettingsStatus`.
    public var connectionSettingsStatus: [UInt8]?
    /// The server instance that last held the agent's connection.
    public var owner = ""
    /// The epoch of the `owner` process whose connection claimed the row (0: never claimed).
    public var fence: Int64 = 0
    /// When the claiming connection began, milliseconds since the Unix epoch: a newer
    /// connection's claim takes the row, an older one's writes are refused (PostgreSQL).
    public var claimedAt: Int64 = 0
    /// Hex hash of a config the agent failed and went back from (`ROLLED_BACK`), kept while its
    /// remote config status still reports the config it went back to: a restarted server does
    /// not offer the failing one again. Nil when there is none.
    public var rolledBackFrom: String?
    /// A hint, not stored: this server has never written the agent, so a backend may insert
    /// without looking for an existing row (and must fall back if one exists after all).
    public var isNew = false

    /// A row with only a uid.
    public init(uid: String) { self.uid = uid }
}

/// One event of an agent's append-only history.
public struct HistoryRow: Sendable, Hashable {
    /// Canonical UUID text.
    public var uid: String
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// `connected`, `disconnected`, `health_changed`, `effective_config_changed`,
    /// `remote_config_status_changed`, `description_changed`, `duplicate_uid`, …
    public var kind: String
    /// A short human-readable detail.
    public var detail: String

    /// A history event.
    public init(uid: String, at: Int64, kind: String, detail: String) {
        self.uid = uid
        self.at = at
        self.kind = kind
        self.detail = detail
    }
}

/// A content-addressed blob (config map or available-components map).
public struct BlobRow: Sendable, Equatable {
    /// Hex SHA-256 (or the agent's own hash for component maps).
    public var hash: String
    /// `config` or `components`.
    public var kind: String
    /// Encoded protobuf message.
    public var body: [UInt8]

    /// A blob.
    public init(hash: String, kind: String, body: [UInt8]) {
        self.hash = hash
        self.kind = kind
        self.body = body
    }
}

/// A named desired config: the current version's hash (the body is a blob).
public struct ConfigRow: Sendable, Equatable {
    /// Operator-chosen name.
    public var name: String
    /// Hex SHA-256 of the config map.
    public var hash: String
    /// Increases with every PUT that changes the content.
    public var version: Int64
    /// Milliseconds since the Unix epoch.
    public var updatedAt: Int64

    /// A config row.
    public init(name: String, hash: String, version: Int64, updatedAt: Int64) {
        self.name = name
        self.hash = hash
        self.version = version
        self.updatedAt = updatedAt
    }
}

/// An assignment of one config version to the agents a selector matches.
public struct AssignmentRow: Sendable, Equatable {
    /// Server-chosen id.
    public var id: String
    /// Config name.
    public var config: String
    /// Hex hash pinned when the assignment was made.
    public var hash: String
    /// Attribute pairs that must all match (empty: every agent).
    public var selector: [String: String]
    /// Explicit agents (canonical UUIDs), in addition to the selector when non-empty.
    public var uids: [String]
    /// Order of creation; a later assignment wins for an agent both select.
    public var sequence: Int64
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    /// An assignment row.
    public init(
        id: String, config: String, hash: String, selector: [String: String], uids: [String], sequence: Int64,
        createdAt: Int64
    ) {
        self.id = id
        self.config = config
        self.hash = hash
        self.selector = selector
        self.uids = uids
        self.sequence = sequence
        self.createdAt = createdAt
    }
}

/// An agent's uid bound to the identity (client certificate fingerprint) that first spoke for it.
public struct IdentityRow: Sendable, Equatable {
    /// Canonical UUID text.
    public var uid: String
    /// `sha256:` and the certificate's hex SHA-256.
    public var identity: String
    /// Milliseconds since the Unix epoch.
    public var boundAt: Int64

    /// A binding.
    public init(uid: String, identity: String, boundAt: Int64) {
        self.uid = uid
        self.identity = identity
        self.boundAt = boundAt
    }
}

/// An enrollment token, known by its hash only (the token itself is shown once, at creation).
public struct EnrollmentRow: Sendable, Equatable {
    /// Hex SHA-256 of the token.
    public var hash: String
    /// Labels an agent enrolled with the token is given.
    public var labels: [String: String]
    /// Agents the token may still enroll; nil: any number.
    public var usesLeft: Int64?
    /// Milliseconds since the Unix epoch after which the token is refused; nil: never.
    public var expiresAt: Int64?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    /// A token row.
    public init(hash: String, labels: [String: String], usesLeft: Int64?, expiresAt: Int64?, createdAt: Int64) {
        self.hash = hash
        self.labels = labels
        self.usesLeft = usesLeft
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

/// One unit of write-behind work: written in one transaction, or not at all.
public struct WriteBatch: Sendable {
    /// Full snapshots (latest wins per agent).
    public var agents: [AgentRow] = []
    /// Agents whose only change is liveness: uid and last-seen milliseconds.
    public var touches: [(uid: String, lastSeen: Int64)] = []
    /// New blobs (inserted if absent).
    public var blobs: [BlobRow] = []
    /// History to append.
    public var history: [HistoryRow] = []
    /// Agents to delete with their history (retention); applied before `agents`, so an agent
    /// forgotten and seen again within one batch is written afresh.
    public var forgotten: [String] = []

    /// An empty batch.
    public init() {}

    /// Rows in the batch.
    public var count: Int { agents.count + touches.count + blobs.count + history.count + forgotten.count }
}

/// A store failure, with a message fit for an operator.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Kind: Sendable {
        /// The database cannot be reached or the connection broke: retrying may help.
        case unavailable
        /// The file or schema is not an Ampora database, or is newer than this server.
        case incompatible
        /// A statement failed.
        case failed
        /// A write conflicted with an existing row.
        case conflict
    }
    /// The kind.
    public var kind: Kind
    /// The message.
    public var message: String

    /// An error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// One store interface, two backends (SQLite, PostgreSQL); see FleetStoreConformance tests.
/// Implementations serialise their own access and are safe to call from any thread.
public protocol FleetStore: AnyObject, Sendable {
    /// `sqlite` or `postgres`.
    var backend: String { get }
    /// Writes a batch in one transaction; returns how many agent rows the ownership fence
    /// refused (an instance's writes for an agent that a newer connection elsewhere claimed).
    @discardableResult
    func write(_ batch: WriteBatch) throws(StoreError) -> Int
    /// Every agent snapshot.
    func loadAgents() throws(StoreError) -> [AgentRow]
    /// Marks every agent of `owner` disconnected (the previous run of this instance ended).
    func markDisconnected(owner: String) throws(StoreError)
    /// The newest `limit` history events of an agent, newest first.
    func history(uid: String, limit: Int) throws(StoreError) -> [HistoryRow]
    /// A blob by hash.
    func blob(hash: String) throws(StoreError) -> BlobRow?
    /// Number of blobs of a kind.
    func blobCount(kind: String) throws(StoreError) -> Int
    /// Stores a config version and its blob (synchronously: the operator gets an answer after).
    func saveConfig(_ config: ConfigRow, blob: BlobRow) throws(StoreError)
    /// Every named config (current versions).
    func loadConfigs() throws(StoreError) -> [ConfigRow]
    /// Stores an assignment.
    func saveAssignment(_ assignment: AssignmentRow) throws(StoreError)
    /// Every assignment, oldest first.
    func loadAssignments() throws(StoreError) -> [AssignmentRow]
    /// Stores a binding unless the uid already has one (the first binding stays).
    func saveIdentity(_ row: IdentityRow) throws(StoreError)
    /// Every binding.
    func loadIdentities() throws(StoreError) -> [IdentityRow]
    /// Removes the binding of `uid` (its certificate changed): the next identity binds it again.
    func deleteIdentity(uid: String) throws(StoreError)
    /// Stores a new enrollment token.
    func saveToken(_ row: EnrollmentRow) throws(StoreError)
    /// Every enrollment token.
    func loadTokens() throws(StoreError) -> [EnrollmentRow]
    /// Runs statements in one transaction: the small tables of identity and the CA (see
    /// `FleetStore+Authority.swift`), written once for both backends in SQL both accept, with
    /// text parameters `$1`, `$2`, … (SQLite converts them to the column's type).
    func execute(_ statements: [(sql: String, params: [String?])]) throws(StoreError)
    /// The rows of one such query, as text (nil for NULL).
    func select(_ sql: String, _ params: [String?]) throws(StoreError) -> [[String?]]
    /// `execute`, with `blobs` inserted (if absent, `created_at` = `at`) in the same transaction:
    /// a config version is stored with its content or not at all, and text parameters cannot
    /// carry bytes.
    func execute(_ statements: [(sql: String, params: [String?])], storing blobs: [BlobRow], at: Int64)
        throws(StoreError)
    /// Closes the connection.
    func close()
}

/// Opens the store a `--database` URL names, running migrations.
public enum FleetStores {
    /// `sqlite:PATH` or `postgres://…` / `postgresql://…`.
    public static func open(_ url: String) throws(StoreError) -> any FleetStore {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreError(.failed, "sqlite: URL without a path") }
            return try SQLiteStore(path: path)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return try PostgresStore(url: url)
        }
        throw StoreError(.failed, "unsupported database URL \(url): use sqlite:PATH or postgres://…")
    }
}
