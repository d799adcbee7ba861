import Core

/// An operator-facing failure: maps to an HTTP status and a stable code.
public struct FleetError: Error, Sendable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Sendable {
        /// The request is malformed or names something invalid (400/422).
        case invalid
        /// The thing asked for does not exist (404).
        case notFound
        /// The database is unreachable: nothing was acknowledged (503).
        case unavailable
        /// The request is larger than a limit (413).
        case tooLarge
        /// `If-Match` names a version that is no longer the newest (412).
        case preconditionFailed
        /// Another writer got there first; sending it again may succeed (409).
        case conflict
    }
    /// The class.
    public var kind: Kind
    /// Stable machine-readable code.
    public var code: String
    /// Human-readable message.
    public var message: String
    /// What the Toolkit found, when a config was refused for its content.
    public var findings: [ConfigFinding]?

    /// An error.
    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// One agent as the operator API lists it.
public struct AgentSummary: Sendable {
    /// Canonical UUID.
    public var instanceUID: String
    /// Held by a live connection of this server.
    public var connected: Bool
    /// Milliseconds since the Unix epoch.
    public var firstSeen: Int64
    /// Milliseconds since the Unix epoch.
    public var lastSeen: Int64
    /// Attributes (identifying first wins on a duplicate key), sorted by key.
    public var attributes: [(key: String, value: String)]
    /// `AgentCapabilities` bits.
    public var capabilities: UInt64
    /// Hex hash of the effective config, when reported.
    public var effectiveConfigHash: String?
    /// Hex hash, status name and error of the last remote config status, when reported.
    public var remoteConfigStatus: (hash: String, status: String, error: String)?
    /// `health.healthy`, when reported.
    public var healthy: Bool?
    /// Hex hash of the config the fleet wants the agent to run.
    public var desiredConfigHash: String?
    /// Where the agent stands with that config.
    public var configState: ConfigState?
    /// The agent's error (`FAILED`), or what it lacks (`INCOMPATIBLE`).
    public var configMessage: String = ""
    /// The instance whose connection holds the agent (nil: none).
    public var instance: String?
}

extension AgentSummary {
    /// An agent never heard from: nothing reported, nothing desired.
    public init(instanceUID: String) {
        self.instanceUID = instanceUID
        connected = false
        firstSeen = 0
        lastSeen = 0
        attributes = []
        capabilities = 0
    }
}

/// One agent in full.
public struct AgentDetail: Sendable {
    /// The summary fields.
    public var summary: AgentSummary
    /// Canonical protobuf JSON of the parts, when reported.
    public var descriptionJSON: String?
    /// True when long values or lists of the description were cut (see `BoundedRendering`).
    public var descriptionTruncated = false
    /// Canonical JSON of `health`.
    public var healthJSON: String?
    /// Canonical JSON of `package_statuses`.
    public var packageStatusesJSON: String?
    /// Canonical JSON of `custom_capabilities`.
    public var customCapabilitiesJSON: String?
    /// Canonical JSON of `connection_settings_status`.
    public var connectionSettingsStatusJSON: String?
    /// Hash of the available components.
    public var componentsHash: String?
    /// The server instance holding the agent.
    public var owner: String
    /// Server-side labels (from the enrollment token), which selectors name as `label:KEY`.
    public var labels: [String: String] = [:]
    /// True when an operator revoked the agent: it is refused until readmitted.
    public var revoked = false
    /// Newest first.
    public var history: [AgentEvent]
    /// False when the database could not be read: `history` then holds only unwritten events.
    public var historyComplete: Bool
}

/// One event of an agent's history, as the operator API shows it.
public struct AgentEvent: Sendable, Equatable {
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// `connected`, `disconnected`, `health_changed`, `effective_config_changed`,
    /// `remote_config_status_changed`, `description_changed`, `duplicate_uid`, …
    public var kind: String
    /// A short human-readable detail.
    public var detail: String
}

/// The current version of a named config.
public struct ConfigVersion: Sendable, Equatable {
    /// Operator-chosen name.
    public var name: String
    /// Hex SHA-256 of the config map.
    public var hash: String
    /// Increases with every PUT that changes the content.
    public var version: Int64
    /// Milliseconds since the Unix epoch.
    public var updatedAt: Int64
}

/// One config version assigned to the agents a selector (or a uid list) picks.
public struct Assignment: Sendable, Equatable {
    /// Server-chosen id.
    public var id: String
    /// Config name.
    public var config: String
    /// Hex hash pinned when the assignment was made.
    public var hash: String
    /// Attribute pairs that must all match (empty: every agent).
    public var selector: [String: String]
    /// Explicit agents (canonical UUIDs); when non-empty they replace the selector.
    public var uids: [String]
    /// Order of creation; a later assignment wins for an agent both select.
    public var sequence: Int64
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
}

/// A filtered page of agents.
public struct AgentQuery: Sendable {
    /// Only connected / only disconnected.
    public var connected: Bool?
    /// Attribute pairs that must all match.
    public var attributes: [String: String] = [:]
    /// Page size.
    public var limit = 100
    /// The uid after which the page starts.
    public var cursor: String?
    /// Only agents in this config state.
    public var configState: ConfigState?
    /// Only healthy (true) or unhealthy (false) agents.
    public var healthy: Bool?
    /// Only agents whose uid or an attribute value contains this text (ignoring case).
    public var search: String?
    /// Server-side labels (given at enrollment) that must all match.
    public var labels: [String: String] = [:]
    /// Only the members of this group (its selector joins the filter).
    public var group: String?
    /// The order of the pages.
    public var sort = AgentSort.uid

    /// Everything, first page.
    public init() {}
}

/// The order of an agent listing: a field, ascending or descending, ties broken by uid (so
/// that a cursor names one place in the order).
public struct AgentSort: Sendable, Equatable {
    /// What a listing can be ordered by: fields every agent has, so that no agent drops out.
    public enum Field: String, Sendable, CaseIterable {
        /// The instance uid.
        case uid
        /// When the agent was first seen.
        case firstSeen
        /// When the agent was last heard from.
        case lastSeen
    }

    /// The field.
    public var field: Field
    /// Largest first.
    public var descending: Bool

    /// By uid, ascending: the default.
    public static let uid = AgentSort(field: .uid, descending: false)

    /// A sort by `field`.
    public init(field: Field, descending: Bool) {
        self.field = field
        self.descending = descending
    }

    /// Parses `lastSeen` or `-lastSeen` (descending); nil for anything else.
    public init?(_ text: String) {
        let descending = text.hasPrefix("-")
        guard let field = Field(rawValue: descending ? String(text.dropFirst()) : text) else { return nil }
        self.init(field: field, descending: descending)
    }

    /// The query parameter's form.
    public var text: String { (descending ? "-" : "") + field.rawValue }

    /// Every accepted value, for an error message.
    public static var accepted: [String] { Field.allCases.flatMap { [$0.rawValue, "-" + $0.rawValue] } }
}

/// A place in a sorted listing: the last item of a page, as the cursor the next page starts
/// after. By uid the cursor is the uid itself; by a time it is `MILLIS_UID`.
public struct AgentCursor: Sendable, Equatable {
    /// The sort field's value at that place (0 when sorting by uid).
    public var key: Int64
    /// The uid at that place.
    public var uid: InstanceUID

    /// A cursor at (`key`, `uid`).
    public init(key: Int64, uid: InstanceUID) {
        self.key = key
        self.uid = uid
    }

    /// Parses a cursor this API gave out for `sort`; nil for anything else.
    public init?(_ text: String, sort: AgentSort) {
        if sort.field == .uid {
            guard let uid = InstanceUID(string: text) else { return nil }
            self.init(key: 0, uid: uid)
            return
        }
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let key = Int64(parts[0]), let uid = InstanceUID(string: String(parts[1])) else {
            return nil
        }
        self.init(key: key, uid: uid)
    }

    /// The text form for `sort`.
    public func text(for sort: AgentSort) -> String {
        sort.field == .uid ? uid.description : "\(key)_\(uid)"
    }
}

/// How many agents are in each state: the numbers of an overview.
public struct AgentFacets: Sendable, Equatable {
    /// Agents in the inventory.
    public var total = 0
    /// Held by a live connection.
    public var connected = 0
    /// Reported healthy.
    public var healthy = 0
    /// Reported unhealthy.
    public var unhealthy = 0
    /// Agents per config state (those with nothing desired are not counted).
    public var configStates: [ConfigState: Int] = [:]
}

/// A page of agents.
public struct AgentPage: Sendable {
    /// The agents.
    public var items: [AgentSummary]
    /// Agents matching the filter in all pages.
    public var total: Int
    /// Cursor for the next page; nil on the last.
    public var nextCursor: String?
}

/// Progress of one assignment.
public struct AssignmentStatus: Sendable {
    /// The assignment.
    public var assignment: Assignment
    /// Capable agents this assignment is the winning one for.
    public var targets = 0
    /// Of those, reporting APPLIED with the assignment's hash.
    public var applied = 0
    /// Reporting APPLYING with the hash.
    public var applying = 0
    /// Reporting FAILED with the hash.
    public var failed = 0
    /// Not yet reporting anything about the hash.
    public var pending = 0
}

extension RemoteConfigStatuses {
    /// `APPLIED`, `APPLYING`, `FAILED` or `UNSET`.
    var apiName: String {
        switch self {
        case .applied: "APPLIED"
        case .applying: "APPLYING"
        case .failed: "FAILED"
        default: "UNSET"
        }
    }
}

extension AgentEvent {
    init(_ row: HistoryRow) { self.init(at: row.at, kind: row.kind, detail: row.detail) }
}

extension ConfigVersion {
    init(_ row: ConfigRow) { self.init(name: row.name, hash: row.hash, version: row.version, updatedAt: row.updatedAt) }
}

extension Assignment {
    init(_ row: AssignmentRow) {
        self.init(
            id: row.id, config: row.config, hash: row.hash, selector: row.selector, uids: row.uids,
            sequence: row.sequence, createdAt: row.createdAt)
    }
}
