import CZlib

/// Raw-deflate compressor for outgoing permessage-deflate messages. The server negotiates
/// `server_no_context_takeover`, so each message is compressed from a reset stream and one
/// deflater can serve a whole event loop.
public final class WebSocketDeflater {
    private let stream: ZStream

    /// `windowBits` is the negotiated `server_max_window_bits` (9...15; zlib cannot honour 8,
    /// so with 8 send uncompressed); nil only when zlib cannot allocate its state.
    public init?(windowBits: Int = 15, level: Int = 6) {
        let bits = Int32(min(15, max(9, windowBits)))
        guard let stream = ZStream(deflatingLevel: Int32(level), windowBits: -bits) else { return nil }
        self.stream = stream
    }

    /// Compresses one message payload and strips the 0x00 0x00 0xFF 0xFF sync-flush tail
    /// (RFC 7692 §7.2.1); send the result with RSV1 set on the first frame.
    public func deflate(_ payload: RawSpan) -> [UInt8] {
        stream.reset()
        var out = [UInt8](repeating: 0, count: stream.deflateBound(payload.byteCount) + 16)
        var produced = 0
        var consumed = 0
        while true {
            if produced == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let step = stream.step(payload, consumed: &consumed, into: &out, produced: &produced, flush: Z_SYNC_FLUSH)
            // Finished once all input is in and the flush fitted with room to spare.
            if consumed == payload.byteCount && step.roomLeft { break }
        }
        out.removeLast(out.count - produced)
        if out.count >= 4 && out[(out.count - 4)...].elementsEqual([0x00, 0x00, 0xFF, 0xFF]) {
            out.removeLast(4)
        }
        return out
    }
}
