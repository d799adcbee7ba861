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
        var ended = false
        if let failure = run(compressed, &out, &produced, &ended, cap) { return .failure(failure) }
        if !ended {
            let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
            if let failure = run(tail.span.bytes, &out, &produced, &ended, cap) { return .failure(failure) }
        }
        if produced > limit { return .failure(.tooBig) }
        out.removeLast(out.count - produced)
        return .success(out)
    }

    /// Feeds one input segment, growing `out` by doubling up to `cap` bytes.
    private func run(
        _ input: RawSpan, _ out: inout [UInt8], _ produced: inout Int, _ ended: inout Bool, _ cap: Int
    ) -> Failure? {
        var consumed = 0
        while true {
            if produced == out.count {
                if out.count >= cap { return .tooBig }
                out.append(contentsOf: repeatElement(0, count: min(out.count, cap - out.count)))
            }
            let (took, gave) = (consumed, produced)
            let step = stream.step(input, consumed: &consumed, into: &out, produced: &produced, flush: Z_SYNC_FLUSH)
            switch step.code {
            case Z_STREAM_END:
                ended = true
                return nil
            case Z_OK, Z_BUF_ERROR:
                // Done when all input is in and zlib left output room: nothing is pending.
                if consumed == input.byteCount && step.roomLeft { return nil }
                // Output room and input left but no progress: zlib is stuck, never loop on it.
                if consumed == took && produced == gave && step.roomLeft { return .corrupt }
            default:
                return .corrupt
            }
        }
    }
}
