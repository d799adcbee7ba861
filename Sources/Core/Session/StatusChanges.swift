/// Which status parts the server holds for an agent (status compression: omitted parts keep
/// their last value, so the server must know which ones it has).
public struct StatusParts: OptionSet, Sendable, Hashable {
    /// The bits.
    public var rawValue: UInt16
    /// Wraps bits.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `agent_description`
    public static let description = Self(rawValue: 1 << 0)
    /// `health`
    public static let health = Self(rawValue: 1 << 1)
    /// `effective_config`
    public static let effectiveConfig = Self(rawValue: 1 << 2)
    /// `remote_config_status`
    public static let remoteConfigStatus = Self(rawValue: 1 << 3)
    /// `package_statuses`
    public static let packageStatuses = Self(rawValue: 1 << 4)
    /// `available_components`
    public static let availableComponents = Self(rawValue: 1 << 5)
    /// `connection_settings_status`
    public static let connectionSettingsStatus = Self(rawValue: 1 << 6)
    /// `custom_capabilities`
    public static let customCapabilities = Self(rawValue: 1 << 7)

    /// The parts a full state report must contain for an agent with `caps`.
    public static func required(by caps: AgentCapabilities) -> StatusParts {
        var parts: StatusParts = [.description]
        if caps.contains(.reportsHealth) { parts.insert(.health) }
        if caps.contains(.reportsEffectiveConfig) { parts.insert(.effectiveConfig) }
        if caps.contains(.reportsRemoteConfig) { parts.insert(.remoteConfigStatus) }
        if caps.contains(.reportsPackageStatuses) { parts.insert(.packageStatuses) }
        if caps.contains(.reportsAvailableComponents) { parts.insert(.availableComponents) }
        if caps.contains(.reportsConnectionSettingsStatus) { parts.insert(.connectionSettingsStatus) }
        return parts
    }
}

/// What one `AgentToServer` changed, as owned copies for the persistence layer. Only parts
/// that differ from the last report are filled: a heartbeat yields an empty value and no copy.
public struct StatusChanges: Sendable, Equatable {
    /// The uid the message was about.
    public var instanceUID: InstanceUID?
    /// True on the first message of a connection.
    public var connected = false
    /// True when the agent said goodbye (`agent_disconnect`).
    public var disconnected = false
    /// New capabilities, when they changed.
    public var capabilities: AgentCapabilities?
    /// Changed description.
    public var agentDescription: AgentDescription?
    /// Changed health.
    public var health: ComponentHealth?
    /// Changed effective config (only from agents with ReportsEffectiveConfig).
    public var effectiveConfig: EffectiveConfig?
    /// Changed remote config status.
    public var remoteConfigStatus: RemoteConfigStatus?
    /// Changed package statuses.
    public var packageStatuses: PackageStatuses?
    /// Changed available components (hash only, or the full map).
    public var availableComponents: AvailableComponents?
    /// Changed connection settings status.
    public var connectionSettingsStatus: ConnectionSettingsStatus?
    /// Changed custom capabilities.
    public var customCapabilities: CustomCapabilities?
    /// A custom message the agent sent (for a capability the server announced).
    public var customMessage: CustomMessage?
    /// A connection settings request (CSR flow), handed to the fleet.
    public var connectionSettingsRequest: ConnectionSettingsRequest?
    /// The uid the server assigned in this reply (RequestInstanceUid or duplicate resolution).
    public var assignedInstanceUID: InstanceUID?
    /// True when the sequence number showed a gap.
    public var sequenceGap = false

    /// An empty change set.
    public init() {}

    /// True when nothing beyond liveness changed (a heartbeat).
    public var isHeartbeatOnly: Bool {
        !connected && !disconnected && capabilities == nil && agentDescription == nil && health == nil
            && effectiveConfig == nil && remoteConfigStatus == nil && packageStatuses == nil
            && availableComponents == nil && connectionSettingsStatus == nil && customCapabilities == nil
            && customMessage == nil && connectionSettingsRequest == nil && assignedInstanceUID == nil
    }
}
