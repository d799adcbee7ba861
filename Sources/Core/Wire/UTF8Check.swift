/// Strict UTF-8 validation over borrowed bytes (no overlongs, no surrogates, max U+10FFFF),
/// as protobuf requires for proto3 `string` fields; allocation-free.
@usableFromInline
enum UTF8Check {
    /// Offset of the first byte of an invalid sequence in `range`, or nil when valid.
    @inlinable
    static func firstInvalidOffset(_ bytes: RawSpan, _ range: Range<Int>) -> Int? {
        // Every read below is checked against `end`, which this keeps inside the span.
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.byteCount, "range outside the input")
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            // ASCII fast path, eight bytes at a time.
            while end - i >= 8 {
                let word = bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: i, as: UInt64.self)
                if word & 0x8080_8080_8080_8080 != 0 { break }
                i &+= 8
            }
            guard i < end else { return nil }
            let b0 = bytes.unsafeLoad(fromUncheckedByteOffset: i, as: UInt8.self)
            if b0 < 0x80 {
                i &+= 1
                continue
            }
            let need: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: need = 1
            case 0xE0:
                need = 2
                lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED:
                need = 2
                hi = 0x9F
            case 0xF0:
                need = 3
                lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4:
                need = 3
                hi = 0x8F
            default: return i
            }
            guard end - i > need else { return i }
            let b1 = bytes.unsafeLoad(fromUncheckedByteOffset: i &+ 1, as: UInt8.self)
            if b1 < lo || b1 > hi { return i }
            var k = 2
            while k <= need {
                let b = bytes.unsafeLoad(fromUncheckedByteOffset: i &+ k, as: UInt8.self)
                if b < 0x80 || b > 0xBF { return i }
                k += 1
            }
            i &+= need + 1
        }
        return nil
    }
}
