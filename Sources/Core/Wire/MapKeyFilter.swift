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
    mutating func repeats(_ base: UnsafeRawBufferPointer, _ entry: Range<Int>, _ number: UInt32, after start: Int)
        -> Bool
    {
        let key = Self.key(UnsafeRawBufferPointer(rebasing: base[entry]))
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
            if Self.key(scanner.slice(f.range)).elementsEqual(key) { return true }
        }
        return false
    }

    /// The key (field 1) of a map entry; the first occurrence, as a view reads it.
    @inlinable
    static func key(_ entry: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        WireLookup.firstLength(entry, 1) ?? WireLookup.empty
    }

    /// Six bits from the key's length and its first and last eight bytes: cheap, and a key
    /// that differs only in the middle merely costs an exact comparison.
    @inlinable
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = UInt64(truncatingIfNeeded: key.count) &* multiplier
        if key.count >= 8 {
            h ^= key.loadUnaligned(as: UInt64.self)
            h = (h &* multiplier) ^ key.loadUnaligned(fromByteOffset: key.count - 8, as: UInt64.self)
        } else {
            for b in key { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        }
        return (h &* multiplier) >> 58
    }
}
