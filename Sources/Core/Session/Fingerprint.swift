/// A fast 64-bit content fingerprint used to tell whether a reported status sub-message changed
/// since the last one, without keeping the bytes (not cryptographic; 0 means "nothing seen").
public enum Fingerprint {
    /// Fingerprint of `bytes`; never 0.
    @inlinable
    public static func of(_ bytes: RawSpan) -> UInt64 {
        let n = bytes.byteCount
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        var i = 0
        while n - i >= 8 {
            h = mix(h ^ bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: i, as: UInt64.self))
            i &+= 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes.unsafeLoad(fromUncheckedByteOffset: i, as: UInt8.self)) &<< shift
            shift &+= 8
            i &+= 1
        }
        h = mix(h ^ tail)
        return h == 0 ? 1 : h
    }

    /// Fingerprint of an owned array.
    public static func of(_ bytes: [UInt8]) -> UInt64 {
        of(bytes.span.bytes)
    }

    @inlinable
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 31)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
