import CZlib

/// Raw-deflate compressor for outgoing permessage-deflate messages. The server negotiates
/// `server_no_context_takeover`, so each message is compressed from a reset stream and one
/// deflater can serve a whole event loop.
public final class WebSocketDeflater {
    // zlib keeps a pointer back to the stream, so it needs a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>

    /// `windowBits` is the negotiated `server_max_window_bits` (9...15; zlib cannot honour 8,
    /// so with 8 send uncompressed); nil only when zlib cannot allocate its state.
    public init?(windowBits: Int = 15, level: Int = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let bits = Int32(min(15, max(9, windowBits)))
        let rc = deflateInit2_(
            stream, Int32(level), Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses one message payload and strips the 0x00 0x00 0xFF 0xFF sync-flush tail
    /// (RFC 7692 §7.2.1); send the result with RSV1 set on the first frame.
    public func deflate(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        deflateReset(stream)
        var out = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(payload.count))) + 16)
        var produced = 0
        var consumed = 0
        while true {
            if produced == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let inCount = min(payload.count - consumed, Int(UInt32.max))
            let outCount = min(out.count - produced, Int(UInt32.max))
            out.withUnsafeMutableBytes { o in
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: payload.baseAddress?.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = UInt32(inCount)
                stream.pointee.next_out = o.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(outCount)
                _ = CZlib.deflate(stream, Z_SYNC_FLUSH)
            }
            consumed += inCount - Int(stream.pointee.avail_in)
            produced += outCount - Int(stream.pointee.avail_out)
            // Finished once all input is in and the flush fitted with room to spare.
            if consumed == payload.count && stream.pointee.avail_out > 0 { break }
        }
        out.removeLast(out.count - produced)
        if out.count >= 4 && out[(out.count - 4)...].elementsEqual([0x00, 0x00, 0xFF, 0xFF]) {
            out.removeLast(4)
        }
        return out
    }
}
