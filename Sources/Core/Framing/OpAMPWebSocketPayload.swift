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
        // One rule, the raw buffer's below: it tells how many header bytes to drop.
        let header = try message.withUnsafeBytes { (raw) throws(ProtoDecodeError) in
            raw.count - (try body(of: raw, acceptLegacy: acceptLegacy)).count
        }
        return message.extracting(droppingFirst: header)
    }

    /// The protobuf part of a received WebSocket message held in a raw buffer (the rule the
    /// span version applies too).
    @inlinable
    public static func body(of message: UnsafeRawBufferPointer, acceptLegacy: Bool = true) throws(ProtoDecodeError)
        -> UnsafeRawBufferPointer
    {
        guard let first = message.first else { return message }
        if first == 0 { return UnsafeRawBufferPointer(rebasing: message[1...]) }
        if acceptLegacy { return message }
        var reader = WireReader(message)
        _ = try reader.readVarint()
        throw ProtoDecodeError(.nonZeroHeader, offset: 0)
    }
}
