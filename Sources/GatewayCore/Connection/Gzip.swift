import CZlib

/// gzip for the OpAMP plain-HTTP transport (H2): request bodies may arrive gzipped, and
/// responses are gzipped when the agent accepts it.
enum Gzip {
    /// Why a body could not be inflated.
    enum Failure: Error, Equatable {
        case corrupt
        case tooLarge
    }

    /// Inflates a gzip (or zlib) stream of one or more members, refusing output beyond `limit` bytes.
    static func inflate(_ input: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        // 15 + 32: accept both gzip and zlib headers.
        guard let stream = ZStream(inflatingWindowBits: 15 + 32) else { return .failure(.corrupt) }
        let bytes = input.span.bytes
        let cap = limit == Int.max ? limit : limit + 1
        var out = [UInt8](repeating: 0, count: min(cap, 64 * 1024))
        var produced = 0
        var start = 0
        while true {
            switch stream.inflate(
                bytes.extracting(start...), into: &out, produced: &produced, cap: cap, flush: Z_NO_FLUSH)
            {
            case .streamEnd(let consumed):
                if produced > limit { return .failure(.tooLarge) }
                start += consumed
                // RFC 1952 §2.2: a gzip file is a series of members; inflate each in turn.
                if start == bytes.byteCount {
                    out.removeLast(out.count - produced)
                    return .success(out)
                }
                guard stream.reset() else { return .failure(.corrupt) }
            case .outputFull: return .failure(.tooLarge)
            // A member must end: all input in without its end means the body was cut short.
            case .inputUsed, .corrupt: return .failure(.corrupt)
            }
        }
    }

    /// Compresses `input` as a gzip member.
    static func deflate(_ input: [UInt8]) -> [UInt8] {
        guard let stream = ZStream(deflatingLevel: 6, windowBits: 15 + 16) else { return [] }
        var out = [UInt8](repeating: 0, count: stream.deflateBound(input.count) + 32)
        var consumed = 0
        var produced = 0
        _ = stream.step(input.span.bytes, consumed: &consumed, into: &out, produced: &produced, flush: Z_FINISH)
        out.removeLast(out.count - produced)
        return out
    }
}
