/// Tells a validator whether a map entry repeats the key of an earlier entry of the same map.
/// Protobuf keeps the last entry for a key, so such a message takes the merge path, and on the
/// view path every key occurs once: `ProtoMap` then yields entries as they come, with no
/// look-ahead per entry.
///
/// A 64-bit filter of key hashes answers "new key" for most entries without looking back. A hit
/// compares the key with the earlier entries; after a few hits the filter gives up and answers
/// "repeats", which is always safe (the merge path handles any input), so crafted keys that all
/// hash alike cost a merge, never quadratic validation.
@usableFromInline
struct MapKeyFilter {
    @usableFromInline var bits: UInt64 = 0
    @usableFromInline var exactChecks = 0

    /// How many filter hits are checked exactly before the filter assumes a repeat.
    @usableFromInline static let exactCheckBudget = 8

    @inlinable
    init() {}

    /// True when the entry at `entry` (its payload inside `base`) has the key of an earlier
    /// entry of field `number` in the message starting at `start`, or may have.
    @inlinable
    mutating func repeats(_ base: RawSpan, _ entry: Range<Int>, _ number: UInt32, after start: Int) -> Bool {
        let key = Self.key(base.extracting(entry))
        let bit: UInt64 = 1 &<< (Self.hash(key) & 63)
        defer { bits |= bit }
        guard bits & bit != 0 else { return false }
        exactChecks &+= 1
        if exactChecks > Self.exactCheckBudget { return true }
        var scanner = WireScanner(base: base, range: start..<entry.upperBound)
        while let f = scanner.next() {
            // The entry itself ends the search: only earlier entries count.
            if f.range.lowerBound == entry.lowerBound && f.wire == WireType.lengthDelimited { break }
            guard f.number == number && f.wire == WireType.lengthDelimited else { continue }
            if Self.key(scanner.slice(f.range)).bytesEqual(key) { return true }
        }
        return false
    }

    /// The key (field 1) of a map entry; the first occurrence, as a view reads it.
    @inlinable
    @_lifetime(copy entry)
    static func key(_ entry: RawSpan) -> RawSpan {
        WireLookup.firstLengthOrEmpty(entry, 1)
    }

    /// Six bits from the key's length and its first and last eight bytes: cheap, and a key
    /// that differs only in the middle merely costs an exact comparison.
    @inlinable
    static func hash(_ key: RawSpan) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        let count = key.byteCount
        var h = UInt64(truncatingIfNeeded: count) &* multiplier
        if count >= 8 {
            h ^= key.unsafeLoadUnaligned(fromUncheckedByteOffset: 0, as: UInt64.self)
            h = (h &* multiplier) ^ key.unsafeLoadUnaligned(fromUncheckedByteOffset: count - 8, as: UInt64.self)
        } else {
            for i in 0..<count {
                h = (h ^ UInt64(key.unsafeLoad(fromUncheckedByteOffset: i, as: UInt8.self))) &* 0x100_0000_01B3
            }
        }
        return (h &* multiplier) >> 58
    }
}
