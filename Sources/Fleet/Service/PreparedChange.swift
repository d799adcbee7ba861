import Core

/// What applying one message to the inventory needs, computed before the inventory lock is
/// taken: encoding, hashing and attribute extraction cost as much as the message is large, so
/// none of it may run while that lock holds up every other agent and the operator API.
struct PreparedChange {
    var change: StatusChanges
    var descriptionBytes: [UInt8]?
    var attributes: [(key: String, value: String)]?
    var healthBytes: [UInt8]?
    var effectiveHash: String?
    var effectiveBody: [UInt8]?
    var remoteBytes: [UInt8]?
    var remoteHash: String?
    var packagesBytes: [UInt8]?
    var componentsHash: String?
    var componentsBody: [UInt8]?
    /// The reported components as names (`receivers/otlp`), when the message lists them.
    var componentNames: Set<String>?
    var customBytes: [UInt8]?
    var settingsBytes: [UInt8]?

    init(_ change: StatusChanges) {
        self.change = change
        if let description = change.agentDescription {
            descriptionBytes = description.serializedBytes()
            attributes = AgentState.attributes(of: description)
        }
        healthBytes = change.health?.serializedBytes()
        if let effective = change.effectiveConfig {
            let map = effective.configMap ?? AgentConfigMap()
            effectiveHash = StringInterner.shared.intern(ConfigHash.hex(ConfigHash.of(map)))
            effectiveBody = map.serializedBytes()
        }
        if let remote = change.remoteConfigStatus {
            remoteBytes = remote.serializedBytes()
            remoteHash = StringInterner.shared.intern(ConfigHash.hex(remote.lastRemoteConfigHash))
        }
        packagesBytes = change.packageStatuses?.serializedBytes()
        if let components = change.availableComponents {
            componentsHash = StringInterner.shared.intern(ConfigHash.hex(components.hash))
            if !components.components.isEmpty {
                componentsBody = components.serializedBytes()
                componentNames = ComponentCompatibility.available(components)
            }
        }
        customBytes = change.customCapabilities?.serializedBytes()
        settingsBytes = change.connectionSettingsStatus?.serializedBytes()
    }
}
