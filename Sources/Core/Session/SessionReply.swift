/// A `ServerToAgent` under construction. Unlike the generic owned message it holds the uid
/// inline and shared pre-encoded fields by reference, so an acknowledgement allocates nothing.
public struct SessionReply: Sendable, Equatable {
    /// The uid to echo (S3): a valid uid, or the raw bytes the agent sent when they were invalid.
    public enum UID: Sendable, Equatable {
        case valid(InstanceUID)
        case raw([UInt8])
        case none
    }

    /// `instance_uid` = 1.
    public var instanceUID: UID = .none
    /// `error_response` = 2; exclusive with every field but `instance_uid` (S5).
    public var errorResponse: ServerErrorResponse? {
        get { _errorResponse?.value }
        set { _errorResponse = newValue.map(Boxed.init) }
    }
    private var _errorResponse: Boxed<ServerErrorResponse>?
    /// `remote_config` = 3, pre-encoded and shared.
    public var remoteConfig: SharedRemoteConfig?
    /// `connection_settings` = 4, already filtered by the agent's capabilities.
    public var connectionSettings: ConnectionSettingsOffers? {
        get { _connectionSettings?.value }
        set { _connectionSettings = newValue.map(Boxed.init) }
    }
    private var _connectionSettings: Boxed<ConnectionSettingsOffers>?
    /// `packages_available` = 5, pre-encoded and shared.
    public var packages: SharedPackages?
    /// `flags` = 6.
    public var flags: ServerToAgentFlags = []
    /// `capabilities` = 7.
    public var capabilities: ServerCapabilities = []
    /// `agent_identification.new_instance_uid` = 8.
    public var newInstanceUID: InstanceUID?
    /// `command` = 9.
    public var command: CommandType?
    /// `custom_capabilities` = 10.
    public var customCapabilities: [String]? {
        get { _customCapabilities?.value }
        set { _customCapabilities = newValue.map(Boxed.init) }
    }
    private var _customCapabilities: Boxed<[String]>?
    /// `custom_message` = 11.
    public var customMessage: CustomMessage? {
        get { _customMessage?.value }
        set { _customMessage = newValue.map(Boxed.init) }
    }
    private var _customMessage: Boxed<CustomMessage>?

    /// An empty reply.
    public init() {}

    /// Adds what `other` carries (flags, command, custom message, offers, capabilities) to this
    /// reply: over plain HTTP each poll has one reply for everything the server has to say.
    public mutating func absorb(_ other: SessionReply) {
        flags.formUnion(other.flags)
        if let command = other.command { self.command = command }
        if let message = other.customMessage { customMessage = message }
        if let config = other.remoteConfig { remoteConfig = config }
        if let settings = other.connectionSettings { connectionSettings = settings }
        if let packages = other.packages { self.packages = packages }
        if !other.capabilities.isEmpty { capabilities = other.capabilities }
    }

    /// Compares everything but the shared encodings' identity.
    public static func == (a: SessionReply, b: SessionReply) -> Bool {
        a.instanceUID == b.instanceUID && a.errorResponse == b.errorResponse
            && a.remoteConfig?.encodedField == b.remoteConfig?.encodedField
            && a.connectionSettings == b.connectionSettings
            && a.packages?.encodedField == b.packages?.encodedField && a.flags == b.flags
            && a.capabilities == b.capabilities && a.newInstanceUID == b.newInstanceUID
            && a.command == b.command && a.customCapabilities == b.customCapabilities
            && a.customMessage == b.customMessage
    }

    private var uidSize: Int {
        switch instanceUID {
        case .valid: return 1 + 1 + 16
        case .raw(let bytes): return 1 + ProtoSize.lengthDelimited(bytes.count)
        case .none: return 0
        }
    }

    /// Exact encoded size.
    public var encodedSize: Int {
        var n = uidSize
        if let e = errorResponse { n += 1 + ProtoSize.lengthDelimited(e.encodedSize) }
        if let r = remoteConfig { n += r.encodedField.count }
        if let c = connectionSettings { n += 1 + ProtoSize.lengthDelimited(c.encodedSize) }
        if let p = packages { n += p.encodedField.count }
        if flags.rawValue != 0 { n += 1 + ProtoSize.varint(flags.rawValue) }
        if capabilities.rawValue != 0 { n += 1 + ProtoSize.varint(capabilities.rawValue) }
        if newInstanceUID != nil { n += 1 + 1 + 1 + 1 + 16 }
        if let c = command {
            n +=
                1
                + ProtoSize.lengthDelimited(
                    c.rawValue == 0 ? 0 : 1 + ProtoSize.varint(UInt64(bitPattern: Int64(c.rawValue))))
        }
        if let c = customCapabilities { n += 1 + ProtoSize.lengthDelimited(Self.customCapsSize(c)) }
        if let m = customMessage { n += 1 + ProtoSize.lengthDelimited(m.encodedSize) }
        return n
    }

    private static func customCapsSize(_ caps: [String]) -> Int {
        caps.reduce(0) { $0 + 1 + ProtoSize.string($1) }
    }

    /// Appends the binary `ServerToAgent`, reserving its exact size first.
    public func encode(into w: inout ProtoWriter) {
        w.reserve(encodedSize)
        switch instanceUID {
        case .valid(let uid):
            w.writeTag(1, 2)
            uid.writePayload(into: &w)
        case .raw(let bytes):
            w.writeTag(1, 2)
            w.writeLengthDelimited(bytes)
        case .none: break
        }
        if let e = errorResponse {
            w.writeTag(2, 2)
            w.writeVarint(UInt64(e.encodedSize))
            e.encode(into: &w)
        }
        if let r = remoteConfig { w.writeRaw(r.encodedField) }
        if let c = connectionSettings {
            w.writeTag(4, 2)
            w.writeVarint(UInt64(c.encodedSize))
            c.encode(into: &w)
        }
        if let p = packages { w.writeRaw(p.encodedField) }
        if flags.rawValue != 0 {
            w.writeTag(6, 0)
            w.writeVarint(flags.rawValue)
        }
        if capabilities.rawValue != 0 {
            w.writeTag(7, 0)
            w.writeVarint(capabilities.rawValue)
        }
        if let uid = newInstanceUID {
            w.writeTag(8, 2)
            w.writeVarint(1 + 1 + 16)
            w.writeTag(1, 2)
            uid.writePayload(into: &w)
        }
        if let c = command {
            var cmd = ServerToAgentCommand()
            cmd.type = c
            w.writeTag(9, 2)
            w.writeVarint(UInt64(cmd.encodedSize))
            cmd.encode(into: &w)
        }
        if let caps = customCapabilities {
            w.writeTag(10, 2)
            w.writeVarint(UInt64(Self.customCapsSize(caps)))
            for c in caps {
                w.writeTag(1, 2)
                w.writeString(c)
            }
        }
        if let m = customMessage {
            w.writeTag(11, 2)
            w.writeVarint(UInt64(m.encodedSize))
            m.encode(into: &w)
        }
    }

    /// The binary `ServerToAgent` as a new array.
    public func serializedBytes() -> [UInt8] {
        var w = ProtoWriter(capacity: encodedSize)
        encode(into: &w)
        return w.bytes
    }
}
