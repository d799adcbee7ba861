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

    // zlib keeps a pointer back to the stream, so it needs a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>

    /// Nil only when zlib cannot allocate its state.
    public init?() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates one message's payload, appending the 0x00 0x00 0xFF 0xFF tail the sender
    /// stripped (RFC 7692 §7.2.2), and stops as soon as the output passes `limit`.
    public func inflate(_ compressed: RawSpan, limit: Int) -> Result<[UInt8], Failure> {
        compressed.withUnsafeBytes { inflate($0, limit: limit) }
    }

    private func inflate(_ compressed: UnsafeRawBufferPointer, limit: Int) -> Result<[UInt8], Failure> {
        inflateReset(stream)
        let cap = limit == Int.max ? limit : limit + 1
        var out = [UInt8](repeating: 0, count: min(cap, max(256, compressed.count * 4)))
        var produced = 0
        var ended = false
        if let failure = run(compressed, &out, &produced, &ended, cap) { return .failure(failure) }
        if !ended {
            let tail: (UInt8, UInt8, UInt8, UInt8) = (0x00, 0x00, 0xFF, 0xFF)
            let failure = withUnsafeBytes(of: tail) { run($0, &out, &produced, &ended, cap) }
            if let failure { return .failure(failure) }
        }
        if produced > limit { return .failure(.tooBig) }
        out.removeLast(out.count - produced)
        return .success(out)
    }

    /// Feeds one input segment, growing `out` by doubling up to `cap` bytes.
    private func run(
        _ input: UnsafeRawBufferPointer, _ out: inout [UInt8], _ produced: inout Int, _ ended: inout Bool, _ cap: Int
    ) -> Failure? {
        var consumed = 0
        while true {
            if produced == out.count {
                if out.count >= cap { return .tooBig }
                out.append(contentsOf: repeatElement(0, count: min(out.count, cap - out.count)))
            }
            let inCount = min(input.count - consumed, Int(UInt32.max))
            let outCount = min(out.count - produced, Int(UInt32.max))
            let rc: Int32 = out.withUnsafeMutableBytes { o in
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: input.baseAddress?.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = UInt32(inCount)
                stream.pointee.next_out = o.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(outCount)
                return CZlib.inflate(stream, Z_SYNC_FLUSH)
            }
            let took = inCount - Int(stream.pointee.avail_in)
            let gave = outCount - Int(stream.pointee.avail_out)
            consumed += took
            produced += gave
            switch rc {
            case Z_STREAM_END:
                ended = true
                return nil
            case Z_OK, Z_BUF_ERROR:
                // Done when all input is in and zlib left output room: nothing is pending.
                if consumed == input.count && stream.pointee.avail_out > 0 { return nil }
                // Output room and input left but no progress: zlib is stuck, never loop on it.
                if took == 0 && gave == 0 && stream.pointee.avail_out > 0 { return .corrupt }
            default:
                return .corrupt
            }
        }
    }
}
