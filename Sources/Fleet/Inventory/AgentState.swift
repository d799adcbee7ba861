import Core

/// What the fleet holds for one agent in memory: status parts as encoded bytes (decoded on
/// demand for the API), plus the few decoded facts that selection and counting need often.
struct AgentState {
    var row: AgentRow
    /// Identifying and non-identifying attributes as strings, sorted by key.
    var attributes: [(key: String, value: String)] = [] {
        didSet { attributesVersion &+= 1 }
    }
    /// Counts changes of `attributes`: an in-place change tells by it whether the list index
    /// must hash them again (their storage address could be reused by a new array).
    private(set) var attributesVersion: UInt32 = 0
    /// Where the agent's facts are in the inventory's `ListIndex` (-1 until it is stored).
    var slot: Int32 = -1
    var capabilities: AgentCapabilities { AgentCapabilities(rawValue: UInt64(bitPattern: row.capabilities)) }
    var remoteHash = ""
    var remoteStatus = RemoteConfigStatuses.unset
    var remoteError = ""
    /// `Fingerprint` of the config hash the agent last reported (0: none), for `seed`.
    var runningConfig: UInt64 = 0
    var healthy: Bool?
    /// The hex hash of the config the fleet wants this agent to run.
    var desiredHash: String?
    /// The assignment that chose `desiredHash`.
    var desiredAssignment: String?
    /// The rollout stage that chose `desiredHash` (over any assignment), if one did.
    var pin: RolloutPin?
    /// Where the agent stands with `desiredHash` (nil: nothing desired, or it cannot take
    /// remote config).
    var track: ConfigTrack?
    /// The last-seen time last handed to the writer.
    var seenWritten: Int64 = 0

    init(row: AgentRow) {
        self.row = row
        let interner = StringInterner.shared
        self.row.effectiveConfigHash = row.effectiveConfigHash.map(interner.intern)
        self.row.componentsHash = row.componentsHash.map(interner.intern)
        self.row.owner = interner.intern(row.owner)
        attributes = Self.attributes(encoded: row.description)
        if let r = row.remoteConfigStatus, let status = try? RemoteConfigStatus(serializedBytes: r) {
            setRemote(status)
        }
        if let h = row.health, let health = try? ComponentHealth(serializedBytes: h) { healthy = health.healthy }
    }

    /// The attributes of an encoded `AgentDescription` (none when it is absent or unreadable).
    static func attributes(encoded: [UInt8]?) -> [(key: String, value: String)] {
        guard let encoded, let description = try? AgentDescription(serializedBytes: encoded) else { return [] }
        return attributes(of: description)
    }

    mutating func setRemote(_ status: RemoteConfigStatus, hash: String? = nil) {
        remoteHash = hash ?? StringInterner.shared.intern(ConfigHash.hex(status.lastRemoteConfigHash))
        remoteStatus = status.status
        remoteError = status.errorMessage
        runningConfig =
            status.lastRemoteConfigHash.isEmpty ? 0 : Fingerprint.of(status.lastRemoteConfigHash)
    }

    /// True when a connection of `instance` holds this agent now.
    func isHeld(by instance: String) -> Bool { row.connected && row.owner == instance }

    /// What a new session of this agent starts from.
    var seed: SessionSeed { SessionSeed(held: heldParts, runningConfig: runningConfig) }

    /// The parts a reconnecting agent's session may treat as already held.
    var heldParts: StatusParts {
        var parts: StatusParts = []
        if row.description != nil { parts.insert(.description) }
        if row.health != nil { parts.insert(.health) }
        if row.effectiveConfigHash != nil { parts.insert(.effectiveConfig) }
        if row.remoteConfigStatus != nil { parts.insert(.remoteConfigStatus) }
        if row.packageStatuses != nil { parts.insert(.packageStatuses) }
        if row.componentsHash != nil { parts.insert(.availableComponents) }
        if row.connectionSettingsStatus != nil { parts.insert(.connectionSettingsStatus) }
        if row.customCapabilities != nil { parts.insert(.customCapabilities) }
        return parts
    }

    /// True when every selector pair equals one of the attributes (`{}` matches everything).
    static func matches(_ attributes: [(key: String, value: String)], _ selector: [String: String]) -> Bool {
        selector.allSatisfy { pair in attributes.contains { $0.key == pair.key && $0.value == pair.value } }
    }

    // The two methods below are `mutating` although the first changes nothing: called on
    // `agents.values[index]` they reach the state through the dictionary's modify accessor,
    // in place, where a getter would copy the whole state (a retain per field).

    /// Whether this agent has every pair of `selector` and, with a `search` text (lowercased),
    /// contains it in its uid or an attribute value: what the `ListIndex` cannot tell.
    mutating func passes(_ selector: [String: String], search: String?, uid: InstanceUID) -> Bool {
        guard Self.matches(attributes, selector) else { return false }
        guard let needle = search else { return true }
        return uid.description.contains(needle) || attributes.contains { $0.value.lowercased().contains(needle) }
    }

    /// A heartbeat at `now`; returns the agent's slot in the `ListIndex`.
    mutating func seen(at now: Int64) -> Int32 {
        row.lastSeen = now
        return slot
    }

    /// The keyed hash of one attribute pair: listings compare integers instead of strings. The
    /// hasher is seeded per process, so no agent can choose attributes that collide with
    /// another's.
    static func pairHash(_ key: String, _ value: String) -> Int {
        var hasher = Hasher()
        hasher.combine(key)
        hasher.combine(value)
        return hasher.finalize()
    }

    func attribute(_ key: String) -> String? {
        attributes.first(where: { $0.key == key })?.value
    }

    /// The attributes as text, identifying ones first when a key repeats: linear in their
    /// number (a hash set of the keys seen), whatever an agent sends. Keys and values are
    /// interned: most of them are the same across a fleet.
    static func attributes(of d: AgentDescription) -> [(key: String, value: String)] {
        var seen = Set<String>(minimumCapacity: d.identifyingAttributes.count + d.nonIdentifyingAttributes.count)
        var out: [(key: String, value: String)] = []
        for list in [d.identifyingAttributes, d.nonIdentifyingAttributes] {
            for kv in list where seen.insert(kv.key).inserted {
                out.append((StringInterner.shared.intern(kv.key), StringInterner.shared.intern(text(kv.value))))
            }
        }
        return out.sorted { $0.key < $1.key }
    }

    static func text(_ value: AnyValue?) -> String {
        switch value?.value {
        case .stringValue(let s): s
        case .boolValue(let b): b ? "true" : "false"
        case .intValue(let i): String(i)
        case .doubleValue(let d): String(d)
        case .bytesValue(let b): ConfigHash.hex(b)
        case .arrayValue(let a): "[" + a.values.map { text($0) }.joined(separator: ",") + "]"
        case .kvlistValue(let l): "{" + l.values.map { "\($0.key)=\(text($0.value))" }.joined(separator: ",") + "}"
        case nil: ""
        }
    }
}

/// A rollout stage's claim on an agent: while it stands, the agent's desired config is `hash`.
struct RolloutPin: Equatable, Sendable {
    var rollout: String
    var stage: Int
    var hash: String
}
