import CZlib

/// One zlib stream: the only place GatewayCore hands memory to zlib. The stream is pinned on
/// the heap because zlib keeps a pointer back to it; each `step` opens the caller's span and
/// array for the one zlib call and clears zlib's pointers into them before returning.
final class ZStream {
    /// Which way the stream works.
    enum Mode {
        case inflate
        case deflate
    }

    private let stream: UnsafeMutablePointer<z_stream>
    let mode: Mode

    /// An inflater; `windowBits` negative for raw deflate (permessage-deflate), 15 + 32 for
    /// gzip or zlib headers. Nil when zlib cannot allocate its state.
    init?(inflatingWindowBits windowBits: Int32) {
        mode = .inflate
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    /// A deflater at `level`; `windowBits` negative for raw deflate, 15 + 16 for a gzip member.
    /// Nil when zlib cannot allocate its state.
    init?(deflatingLevel level: Int32, windowBits: Int32) {
        mode = .deflate
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = deflateInit2_(
            stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        switch mode {
        case .inflate: inflateEnd(stream)
        case .deflate: deflateEnd(stream)
        }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Starts a new stream with the same settings; false if zlib refuses.
    @discardableResult
    func reset() -> Bool {
        switch mode {
        case .inflate: inflateReset(stream) == Z_OK
        case .deflate: deflateReset(stream) == Z_OK
        }
    }

    /// The most bytes deflating `count` bytes in one go can produce.
    func deflateBound(_ count: Int) -> Int {
        Int(CZlib.deflateBound(stream, UInt(count)))
    }

    /// One call of zlib over `input[consumed...]` into `out[produced...]` (which must have room),
    /// advancing both; returns zlib's code and whether it left output room unused.
    func step(
        _ input: RawSpan, consumed: inout Int, into out: inout [UInt8], produced: inout Int, flush: Int32
    ) -> (code: Int32, roomLeft: Bool) {
        precondition(consumed <= input.byteCount && produced < out.count, "no room or input out of range")
        let inCount = min(input.byteCount - consumed, Int(UInt32.max))
        let outCount = min(out.count - produced, Int(UInt32.max))
        let (start, written) = (consumed, produced)
        let code: Int32 = input.withUnsafeBytes { source in
            out.withUnsafeMutableBytes { target in
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: source.baseAddress?.advanced(by: start).assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = UInt32(inCount)
                stream.pointee.next_out = target.baseAddress!.advanced(by: written).assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(outCount)
                let code =
                    switch mode {
                    case .inflate: CZlib.inflate(stream, flush)
                    case .deflate: CZlib.deflate(stream, flush)
                    }
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
                return code
            }
        }
        consumed += inCount - Int(stream.pointee.avail_in)
        produced += outCount - Int(stream.pointee.avail_out)
        return (code, stream.pointee.avail_out > 0)
    }

    /// Where `inflate(_:into:produced:cap:flush:)` stopped.
    enum InflateStop: Equatable {
        /// The compressed stream ended after `consumed` bytes of the input.
        case streamEnd(consumed: Int)
        /// All input is in and nothing is pending (a stream that has not ended yet).
        case inputUsed
        /// The output reached `cap` bytes with more to come.
        case outputFull
        /// Not a valid stream, or zlib made no progress with room and input left.
        case corrupt
    }

    /// Inflates `input` into `out` from `produced` on, growing `out` by doubling up to `cap`
    /// bytes; `produced` counts the output written.
    func inflate(_ input: RawSpan, into out: inout [UInt8], produced: inout Int, cap: Int, flush: Int32)
        -> InflateStop
    {
        var consumed = 0
        while true {
            if produced == out.count {
                if out.count >= cap { return .outputFull }
                out.append(contentsOf: repeatElement(0, count: min(max(out.count, 256), cap - out.count)))
            }
            let (took, gave) = (consumed, produced)
            let step = step(input, consumed: &consumed, into: &out, produced: &produced, flush: flush)
            switch step.code {
            case Z_STREAM_END:
                return .streamEnd(consumed: consumed)
            case Z_OK, Z_BUF_ERROR:
                if consumed == input.byteCount && step.roomLeft { return .inputUsed }
                if consumed == took && produced == gave && step.roomLeft { return .corrupt }
            default:
                return .corrupt
            }
        }
    }
}
