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
    /// Compares the values, not the boxes.
    public static func == (a: StatusChanges, b: StatusChanges) -> Bool {
        a.instanceUID == b.instanceUID && a.connected == b.connected && a.disconnected == b.disconnected
            && a.capabilities == b.capabilities && a.agentDescription == b.agentDescription && a.health == b.health
            && a.effectiveConfig == b.effectiveConfig && a.remoteConfigStatus == b.remoteConfigStatus
            && a.packageStatuses == b.packageStatuses && a.availableComponents == b.availableComponents
            && a.connectionSettingsStatus == b.connectionSettingsStatus && a.customCapabilities == b.customCapabilities
            && a.customMessage == b.customMessage && a.connectionSettingsRequest == b.connectionSettingsRequest
            && a.assignedInstanceUID == b.assignedInstanceUID && a.sequenceGap == b.sequenceGap
            && a.resolvedDuplicate == b.resolvedDuplicate
    }

    /// The uid the message was about.
    public var instanceUID: InstanceUID?
    /// True on the first message of a connection.
    public var connected = false
    /// True when the agent said goodbye (`agent_disconnect`).
    public var disconnected = false
    /// New capabilities, when they changed.
    public var capabilities: AgentCapabilities?
    /// Changed description.
    public var agentDescription: AgentDescription? {
        get { _agentDescription?.value }
        set { _agentDescription = newValue.map(Boxed.init) }
    }
    private var _agentDescription: Boxed<AgentDescription>?
    /// Changed health.
    public var health: ComponentHealth? {
        get { _health?.value }
        set { _health = newValue.map(Boxed.init) }
    }
    private var _health: Boxed<ComponentHealth>?
    /// Changed effective config (only from agents with ReportsEffectiveConfig).
    public var effectiveConfig: EffectiveConfig? {
        get { _effectiveConfig?.value }
        set { _effectiveConfig = newValue.map(Boxed.init) }
    }
    private var _effectiveConfig: Boxed<EffectiveConfig>?
    /// Changed remote config status.
    public var remoteConfigStatus: RemoteConfigStatus? {
        get { _remoteConfigStatus?.value }
        set { _remoteConfigStatus = newValue.map(Boxed.init) }
    }
    private var _remoteConfigStatus: Boxed<RemoteConfigStatus>?
    /// Changed package statuses.
    public var packageStatuses: PackageStatuses? {
        get { _packageStatuses?.value }
        set { _packageStatuses = newValue.map(Boxed.init) }
    }
    private var _packageStatuses: Boxed<PackageStatuses>?
    /// Changed available components (hash only, or the full map).
    public var availableComponents: AvailableComponents? {
        get { _availableComponents?.value }
        set { _availableComponents = newValue.map(Boxed.init) }
    }
    private var _availableComponents: Boxed<AvailableComponents>?
    /// Changed connection settings status.
    public var connectionSettingsStatus: ConnectionSettingsStatus? {
        get { _connectionSettingsStatus?.value }
        set { _connectionSettingsStatus = newValue.map(Boxed.init) }
    }
    private var _connectionSettingsStatus: Boxed<ConnectionSettingsStatus>?
    /// Changed custom capabilities.
    public var customCapabilities: CustomCapabilities? {
        get { _customCapabilities?.value }
        set { _customCapabilities = newValue.map(Boxed.init) }
    }
    private var _customCapabilities: Boxed<CustomCapabilities>?
    /// A custom message the agent sent (for a capability the server announced).
    public var customMessage: CustomMessage? {
        get { _customMessage?.value }
        set { _customMessage = newValue.map(Boxed.init) }
    }
    private var _customMessage: Boxed<CustomMessage>?
    /// A connection settings request (CSR flow), handed to the fleet.
    public var connectionSettingsRequest: ConnectionSettingsRequest? {
        get { _connectionSettingsRequest?.value }
        set { _connectionSettingsRequest = newValue.map(Boxed.init) }
    }
    private var _connectionSettingsRequest: Boxed<ConnectionSettingsRequest>?
    /// The uid the server assigned in this reply (RequestInstanceUid or duplicate resolution).
    public var assignedInstanceUID: InstanceUID?
    /// True when the sequence number showed a gap.
    public var sequenceGap = false
    /// True when `assignedInstanceUID` went to a second live connection that used
    /// `instanceUID` (S11), rather than to an agent that asked for a new uid.
    public var resolvedDuplicate = false

    /// An empty change set.
    public init() {}

    /// True when nothing beyond liveness changed (a heartbeat).
    public var isHeartbeatOnly: Bool {
        !connected && !disconnected && capabilities == nil && _agentDescription == nil && _health == nil
            && _effectiveConfig == nil && _remoteConfigStatus == nil && _packageStatuses == nil
            && _availableComponents == nil && _connectionSettingsStatus == nil && _customCapabilities == nil
            && _customMessage == nil && _connectionSettingsRequest == nil && assignedInstanceUID == nil
    }
}
