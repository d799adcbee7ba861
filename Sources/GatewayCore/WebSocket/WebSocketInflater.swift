import CZlib

/// Raw-deflate decompressor for permessage-deflate (RFC 7692) messages. The server always
/// negotiates `client_no_context_takeover`, so every message inflates from a reset stream and
/// one inflater (with its 32 KiB window) can serve a whole event loop instead of each
/// connection holding its own.
public final class WebSocketInflater {
    /// Why a compressed message was refused.
    public enum Failure: Error, Sendable, Equatable {
        /// The inflated bytes would exceed the limit (close 1009).
        case tooBig
        /// Not a valid deflate stream (close 1007).
        case corrupt
    }

    private let stream: ZStream

    /// Nil only when zlib cannot allocate its state.
    public init?() {
        guard let stream = ZStream(inflatingWindowBits: -15) else { return nil }
        self.stream = stream
    }

    /// Inflates one message's payload, appending the 0x00 0x00 0xFF 0xFF tail the sender
    /// stripped (RFC 7692 §7.2.2), and stops as soon as the output passes `limit`.
    public func inflate(_ compressed: RawSpan, limit: Int) -> Result<[UInt8], Failure> {
        stream.reset()
        let cap = limit == Int.max ? limit : limit + 1
        var out = [UInt8](repeating: 0, count: min(cap, max(256, compressed.byteCount * 4)))
        var produced = 0
        var stop = stream.inflate(compressed, into: &out, produced: &produced, cap: cap, flush: Z_SYNC_FLUSH)
        if stop == .inputUsed {
            let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
            stop = stream.inflate(tail.span.bytes, into: &out, produced: &produced, cap: cap, flush: Z_SYNC_FLUSH)
        }
        switch stop {
        case .outputFull: return .failure(.tooBig)
        case .corrupt: return .failure(.corrupt)
        case .inputUsed, .streamEnd:
            if produced > limit { return .failure(.tooBig) }
            out.removeLast(out.count - produced)
            return .success(out)
        }
    }
}
