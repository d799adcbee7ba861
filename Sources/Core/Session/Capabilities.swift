/// `AgentCapabilities` bits an agent reports in every `AgentToServer`.
public struct AgentCapabilities: OptionSet, Sendable, Hashable {
    /// The bits.
    public var rawValue: UInt64
    /// Wraps bits.
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// 0x1
    public static let reportsStatus = Self(rawValue: 0x1)
    /// 0x2
    public static let acceptsRemoteConfig = Self(rawValue: 0x2)
    /// 0x4
    public static let reportsEffectiveConfig = Self(rawValue: 0x4)
    /// 0x8
    public static let acceptsPackages = Self(rawValue: 0x8)
    /// 0x10
    public static let reportsPackageStatuses = Self(rawValue: 0x10)
    /// 0x20
    public static let reportsOwnTraces = Self(rawValue: 0x20)
    /// 0x40
    public static let reportsOwnMetrics = Self(rawValue: 0x40)
    /// 0x80
    public static let reportsOwnLogs = Self(rawValue: 0x80)
    /// 0x100
    public static let acceptsOpAMPConnectionSettings = Self(rawValue: 0x100)
    /// 0x200
    public static let acceptsOtherConnectionSettings = Self(rawValue: 0x200)
    /// 0x400
    public static let acceptsRestartCommand = Self(rawValue: 0x400)
    /// 0x800
    public static let reportsHealth = Self(rawValue: 0x800)
    /// 0x1000
    public static let reportsRemoteConfig = Self(rawValue: 0x1000)
    /// 0x2000
    public static let reportsHeartbeat = Self(rawValue: 0x2000)
    /// 0x4000
    public static let reportsAvailableComponents = Self(rawValue: 0x4000)
    /// 0x8000
    public static let reportsConnectionSettingsStatus = Self(rawValue: 0x8000)
}

/// `ServerCapabilities` bits sent in the first `ServerToAgent` of a connection.
public struct ServerCapabilities: OptionSet, Sendable, Hashable {
    /// The bits.
    public var rawValue: UInt64
    /// Wraps bits.
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// 0x1, mandatory.
    public static let acceptsStatus = Self(rawValue: 0x1)
    /// 0x2
    public static let offersRemoteConfig = Self(rawValue: 0x2)
    /// 0x4
    public static let acceptsEffectiveConfig = Self(rawValue: 0x4)
    /// 0x8
    public static let offersPackages = Self(rawValue: 0x8)
    /// 0x10
    public static let acceptsPackagesStatus = Self(rawValue: 0x10)
    /// 0x20
    public static let offersConnectionSettings = Self(rawValue: 0x20)
    /// 0x40
    public static let acceptsConnectionSettingsRequest = Self(rawValue: 0x40)

    /// Every bit this spec version defines; anything else must be sent as 0.
    public static let defined = Self(rawValue: 0x7F)
    /// What Ampora offers by default.
    public static let ampora: Self = [
        .acceptsStatus, .offersRemoteConfig, .acceptsEffectiveConfig, .offersPackages,
        .acceptsPackagesStatus, .offersConnectionSettings,
    ]
}

/// `AgentToServerFlags`.
public struct AgentToServerFlags: OptionSet, Sendable, Hashable {
    /// The bits.
    public var rawValue: UInt64
    /// Wraps bits.
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// 0x1: the agent asks the server for a new instance uid.
    public static let requestInstanceUid = Self(rawValue: 0x1)
}

/// `ServerToAgentFlags`.
public struct ServerToAgentFlags: OptionSet, Sendable, Hashable {
    /// The bits.
    public var rawValue: UInt64
    /// Wraps bits.
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// 0x1: the agent must send every status field in its next message.
    public static let reportFullState = Self(rawValue: 0x1)
    /// 0x2: the agent must send its full available-components map.
    public static let reportAvailableComponents = Self(rawValue: 0x2)
}
