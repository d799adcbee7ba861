/// A remote config as the fleet wants agents to run it: encoded once and shared by every reply
/// that carries it (only the per-agent prefix is written per agent).
public final class SharedRemoteConfig: Sendable {
    /// `AgentRemoteConfig.config_hash`.
    public let hash: [UInt8]
    /// Fingerprint of `hash`, compared against what agents report.
    public let hashFingerprint: UInt64
    /// The complete `ServerToAgent.remote_config` field (tag, length, message), ready to append.
    public let encodedField: [UInt8]

    /// Encodes `config` once.
    public init(_ config: AgentRemoteConfig) {
        hash = config.configHash
        hashFingerprint = Fingerprint.of(config.configHash)
        encodedField = encodeField(3, config)
    }
}

/// The packages the fleet offers, encoded once.
public final class SharedPackages: Sendable {
    /// `PackagesAvailable.all_packages_hash`.
    public let allPackagesHash: [UInt8]
    /// Fingerprint of `allPackagesHash`.
    public let hashFingerprint: UInt64
    /// The complete `ServerToAgent.packages_available` field.
    public let encodedField: [UInt8]

    /// Encodes `packages` once.
    public init(_ packages: PackagesAvailable) {
        allPackagesHash = packages.allPackagesHash
        hashFingerprint = Fingerprint.of(packages.allPackagesHash)
        encodedField = encodeField(5, packages)
    }
}

/// Connection settings as the fleet offers them, shared by every agent that gets the same ones:
/// the offers are a large value (some 570 bytes inline), which an agent's desired state and the
/// fleet's per-agent record would otherwise each carry and copy on every message.
public final class SharedConnectionSettings: Sendable {
    /// The offers (their `hash` covers all of them).
    public let offers: ConnectionSettingsOffers
    /// Fingerprint of `offers.hash`, compared against what agents report.
    public let hashFingerprint: UInt64

    /// Shares `offers`.
    public init(_ offers: ConnectionSettingsOffers) {
        self.offers = offers
        hashFingerprint = Fingerprint.of(offers.hash)
    }
}

/// What the fleet wants for one agent right now; the session decides what to send and when.
public struct DesiredState: Sendable {
    /// The config the agent should run, if any.
    public var remoteConfig: SharedRemoteConfig?
    /// Connection settings, shared, if any.
    public var sharedConnectionSettings: SharedConnectionSettings?
    /// Connection settings (their `hash` covers all of them), if any.
    public var connectionSettings: ConnectionSettingsOffers? {
        get { sharedConnectionSettings?.offers }
        set { sharedConnectionSettings = newValue.map(SharedConnectionSettings.init) }
    }
    /// Packages the agent should have, if any.
    public var packages: SharedPackages?
    /// The server's custom capabilities (reverse-FQDN names).
    public var customCapabilities: [String] {
        didSet { customCapabilitiesFingerprint = Self.fingerprint(customCapabilities) }
    }
    /// Fingerprint of `customCapabilities`, computed once so heartbeats do not hash the list.
    public private(set) var customCapabilitiesFingerprint: UInt64 = 0
    /// Fingerprints of available-components hashes the fleet already holds in full.
    public var knownComponentHashes: Set<UInt64>

    /// Nothing desired.
    public init(
        remoteConfig: SharedRemoteConfig? = nil,
        connectionSettings: ConnectionSettingsOffers? = nil,
        packages: SharedPackages? = nil,
        customCapabilities: [String] = [],
        knownComponentHashes: Set<UInt64> = []
    ) {
        self.remoteConfig = remoteConfig
        self.sharedConnectionSettings = connectionSettings.map(SharedConnectionSettings.init)
        self.packages = packages
        self.customCapabilities = customCapabilities
        self.knownComponentHashes = knownComponentHashes
        self.customCapabilitiesFingerprint = Self.fingerprint(customCapabilities)
    }

    private static func fingerprint(_ caps: [String]) -> UInt64 {
        caps.isEmpty ? 0 : Fingerprint.of(Array(caps.joined(separator: "\n").utf8))
    }
}

/// A complete length-delimited `ServerToAgent` field (tag, length, message), encoded once.
private func encodeField(_ number: UInt32, _ message: some ProtoMessage) -> [UInt8] {
    var w = ProtoWriter(capacity: message.encodedSize + 16)
    w.writeTag(number, 2)
    w.writeVarint(UInt64(message.encodedSize))
    message.encode(into: &w)
    return w.bytes
}
