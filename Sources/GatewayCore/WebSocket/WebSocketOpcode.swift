/// RFC 6455 §5.2 frame opcodes; any other value is a protocol error.
public enum WebSocketOpcode: UInt8, Sendable, Equatable {
    /// A later fragment of the message the last text or binary frame opened.
    case continuation = 0x0
    /// The first frame of a text message.
    case text = 0x1
    /// The first frame of a binary message.
    case binary = 0x2
    /// Close handshake.
    case close = 0x8
    /// Liveness probe the peer must answer with a pong.
    case ping = 0x9
    /// Answer to a ping, or an unsolicited heartbeat.
    case pong = 0xA

    /// Control frames (close, ping, pong) may interleave fragments but must not be fragmented.
    @inlinable
    public var isControl: Bool { rawValue & 0x8 != 0 }
}
