/// A 16-byte agent instance uid held inline (no allocation), printed as a canonical UUID.
public struct InstanceUID: Hashable, Sendable, CustomStringConvertible {
    /// Big-endian high 8 bytes.
    public var high: UInt64
    /// Big-endian low 8 bytes.
    public var low: UInt64

    /// From the two big-endian halves.
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From exactly 16 bytes, or nil.
    @inlinable
    public init?(bytes: RawSpan) {
        guard bytes.byteCount == 16 else { return nil }
        high = UInt64(bigEndian: bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: 0, as: UInt64.self))
        low = UInt64(bigEndian: bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: 8, as: UInt64.self))
    }

    /// From an `instance_uid` field of exactly 16 bytes, or nil.
    @inlinable
    public init?(bytes: borrowing ProtoBytes) {
        self.init(bytes: bytes.span)
    }

    /// From exactly 16 bytes, or nil.
    public init?(bytes: [UInt8]) {
        self.init(bytes: bytes.span.bytes)
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case), or 32 hex digits.
    public init?(string: String) {
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(32)
        for (i, c) in string.utf8.enumerated() {
            if c == UInt8(ascii: "-") {
                guard [8, 13, 18, 23].contains(i), string.utf8.count == 36 else { return nil }
                continue
            }
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibbles.append(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibbles.append(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibbles.append(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        guard nibbles.count == 32 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for n in nibbles[0..<16] { h = h << 4 | UInt64(n) }
        for n in nibbles[16..<32] { l = l << 4 | UInt64(n) }
        high = h
        low = l
    }

    /// The 16 wire bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for half in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: half >> shift)) }
        }
        return out
    }

    /// Appends the 16 wire bytes as a length-delimited payload.
    @inlinable
    func writePayload(into w: inout ProtoWriter) {
        w.writeVarint(16)
        w.writeFixed64(high.bigEndian.littleEndian)
        w.writeFixed64(low.bigEndian.littleEndian)
    }

    /// Lower-case canonical UUID text.
    public var description: String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(i) { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, variant 10, 74 random bits.
    public static func v7(unixMilliseconds: UInt64, using rng: inout some RandomNumberGenerator) -> InstanceUID {
        let randA = UInt64.random(in: 0..<(1 << 12), using: &rng)
        let randB = UInt64.random(in: 0..<(1 << 62), using: &rng)
        let high = (unixMilliseconds & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | randA
        let low = 0x8000_0000_0000_0000 | randB
        return InstanceUID(high: high, low: low)
    }
}

/// Source of new instance uids for `RequestInstanceUid` and duplicate resolution.
public protocol InstanceUIDGenerator {
    /// A fresh, unique uid.
    mutating func next() -> InstanceUID
}

/// UUIDv7 generator over an injected wall clock (Core reads no clock itself).
public struct UUIDv7Generator<RNG: RandomNumberGenerator>: InstanceUIDGenerator {
    private let now: () -> UInt64
    private var rng: RNG

    /// `now` returns Unix time in milliseconds.
    public init(now: @escaping () -> UInt64, rng: RNG) {
        self.now = now
        self.rng = rng
    }

    /// A fresh UUIDv7.
    public mutating func next() -> InstanceUID {
        InstanceUID.v7(unixMilliseconds: now(), using: &rng)
    }
}
