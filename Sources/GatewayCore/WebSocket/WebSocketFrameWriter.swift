import Core

/// Server frames (RFC 6455 §5.2): never masked, always FIN, 7/16/64-bit lengths.
public enum WebSocketFrameWriter {
    /// Room a caller must leave for any header: 2 bytes plus an 8-byte length.
    public static let maxHeaderSize = 10

    /// Largest control frame payload (ping, pong, close).
    public static let maxControlPayload = 125

    /// Header size for a payload of `count` bytes.
    @inlinable
    public static func headerSize(payloadCount count: Int) -> Int {
        count <= 125 ? 2 : count <= 0xFFFF ? 4 : 10
    }

    /// Appends just the header, so a shared pre-encoded payload can follow it in a vectored
    /// send. `compressed` sets RSV1 (permessage-deflate).
    @inlinable
    public static func appendHeader(
        _ opcode: WebSocketOpcode, payloadCount count: Int, compressed: Bool = false, to out: inout [UInt8]
    ) {
        precondition(count >= 0, "negative payload length")
        out.append(0x80 | (compressed ? 0x40 : 0) | opcode.rawValue)
        switch headerSize(payloadCount: count) {
        case 2:
            out.append(UInt8(count))
        case 4:
            out.append(126)
            out.append(UInt8(truncatingIfNeeded: count >> 8))
            out.append(UInt8(truncatingIfNeeded: count))
        default:
            out.append(127)
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(count) >> (56 - 8 * UInt64(i)))) }
        }
    }

    /// Appends a whole frame to `out`, e.g. a pooled send buffer.
    public static func append(
        _ opcode: WebSocketOpcode, payload: RawSpan, compressed: Bool = false, to out: inout [UInt8]
    ) {
        precondition(!opcode.isControl || payload.byteCount <= maxControlPayload, "control payload over 125 bytes")
        appendHeader(opcode, payloadCount: payload.byteCount, compressed: compressed, to: &out)
        payload.append(to: &out)
    }

    /// Appends a whole frame carrying `payload` to `out`.
    public static func append(
        _ opcode: WebSocketOpcode, payload: [UInt8], compressed: Bool = false, to out: inout [UInt8]
    ) {
        append(opcode, payload: payload.span.bytes, compressed: compressed, to: &out)
    }

    /// A complete frame in a new array.
    public static func frame(_ opcode: WebSocketOpcode, payload: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        append(opcode, payload: Array(payload), to: &out)
        return out
    }

    /// A binary message in one frame.
    public static func binary(_ payload: [UInt8]) -> [UInt8] { frame(.binary, payload: payload) }

    /// A text message in one frame.
    public static func text(_ text: String) -> [UInt8] { frame(.text, payload: text.utf8) }

    /// A ping; at most 125 payload bytes.
    public static func ping(_ payload: [UInt8] = []) -> [UInt8] { frame(.ping, payload: payload) }

    /// A pong, normally echoing a ping's payload; at most 125 bytes.
    public static func pong(_ payload: [UInt8]) -> [UInt8] { frame(.pong, payload: payload) }

    /// A close frame; a nil code sends an empty payload. The reason is cut at a scalar
    /// boundary to fit the 125-byte control limit rather than refused.
    public static func close(code: WebSocketCloseCode?, reason: String = "") -> [UInt8] {
        frame(.close, payload: closePayload(code: code, reason: reason))
    }

    /// The payload of a close frame: the code big-endian, then as much UTF-8 reason as fits.
    public static func closePayload(code: WebSocketCloseCode?, reason: String) -> [UInt8] {
        guard let code else { return [] }
        var out: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(truncatingIfNeeded: code.rawValue)]
        for scalar in reason.unicodeScalars {
            let utf8 = UTF8.encode(scalar)!
            if out.count + utf8.count > maxControlPayload { break }
            out.append(contentsOf: utf8)
        }
        return out
    }
}
