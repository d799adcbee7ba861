/// The OpAMP WebSocket message layout (W1–W3): a varint header (0 in this spec version)
/// followed by the protobuf message.
public enum OpAMPWebSocketPayload {
    /// The header this spec version writes.
    public static let header: [UInt8] = [0]

    /// The protobuf part of a received WebSocket message. A first byte other than 0 is taken
    /// as a legacy header-less message when `acceptLegacy` (as opamp-go does: a protobuf
    /// message never starts with 0x00), otherwise as a non-zero header and refused.
    @inlinable
    @_lifetime(copy message)
    public static func body(of message: RawSpan, acceptLegacy: Bool = true) throws(ProtoDecodeError) -> RawSpan {
        guard !message.isEmpty else { return message }
        let first = message.unsafeLoad(fromByteOffset: 0, as: UInt8.self)
        if first == 0 { return message.extracting(droppingFirst: 1) }
        if acceptLegacy { return message }
        var reader = WireReader(message)
        _ = try reader.readVarint()
        throw ProtoDecodeError(.nonZeroHeader, offset: 0)
    }
}
