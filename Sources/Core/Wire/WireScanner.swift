/// One field as seen by `WireScanner`.
@usableFromInline
struct WireField {
    @usableFromInline var number: UInt32
    @usableFromInline var wire: UInt8
    /// The value of a varint, fixed64 or fixed32 field.
    @usableFromInline var scalar: UInt64
    /// The payload of a length-delimited field.
    @usableFromInline var range: Range<Int>

    @inlinable
    init(number: UInt32, wire: UInt8, scalar: UInt64, range: Range<Int>) {
        self.number = number
        self.wire = wire
        self.scalar = scalar
        self.range = range
    }
}

/// A non-throwing field iterator for bytes that a validator has already accepted; this is what
/// the lazy view accessors run on. On bytes that were never validated it stops at the first
/// inconsistency instead of trapping, so misuse cannot read out of bounds.
@usableFromInline
struct WireScanner: ~Escapable {
    @usableFromInline var reader: WireReader

    @inlinable
    @_lifetime(copy bytes)
    init(_ bytes: RawSpan) {
        reader = WireReader(bytes)
    }

    /// Scans `range` of `base`; field ranges stay offsets into `base`.
    @inlinable
    @_lifetime(copy base)
    init(base: RawSpan, range: Range<Int>) {
        reader = WireReader(base: base, range: range)
    }

    @inlinable
    mutating func next() -> WireField? {
        while !reader.isAtEnd {
            guard let raw = reader.varintIfValid() else { return stop() }
            let wire = UInt8(truncatingIfNeeded: raw & 7)
            let number = UInt32(truncatingIfNeeded: raw >> 3)
            if number == 0 || raw >> 3 > 0x1FFF_FFFF { return stop() }
            switch wire {
            case WireType.varint:
                guard let v = reader.varintIfValid() else { return stop() }
                return WireField(number: number, wire: wire, scalar: v, range: 0..<0)
            case WireType.lengthDelimited:
                guard let length = reader.varintIfValid(), length <= UInt64(reader.end - reader.pos) else {
                    return stop()
                }
                let lower = reader.pos
                reader.pos = lower &+ Int(length)
                return WireField(number: number, wire: wire, scalar: 0, range: lower..<reader.pos)
            case WireType.fixed64:
                guard let v = try? reader.readFixed64() else { return stop() }
                return WireField(number: number, wire: wire, scalar: v, range: 0..<0)
            case WireType.fixed32:
                guard let v = try? reader.readFixed32() else { return stop() }
                return WireField(number: number, wire: wire, scalar: UInt64(v), range: 0..<0)
            default:
                guard (try? reader.skipField(wire: wire, number: number, depth: 0)) != nil else { return stop() }
            }
        }
        return nil
    }

    @inlinable
    mutating func stop() -> WireField? {
        reader.pos = reader.end
        return nil
    }

    /// The payload bytes of a length-delimited field.
    @inlinable
    @_lifetime(copy self)
    func slice(_ range: Range<Int>) -> RawSpan {
        reader.slice(range)
    }
}

/// Field lookups used by the generated views. Validation sends any message that repeats a
/// singular field (where protobuf's last value wins) to the merge path, so on the view path
/// the first occurrence is the only one and lookups stop there.
@usableFromInline
enum WireLookup {

    // The two lookups below are what every view accessor runs, several times per field read,
    // so they compare raw tags and skip values without building a `WireField` per field. They
    // stop, like `WireScanner`, at the first inconsistency, so they stay in bounds on any bytes.

    @inlinable
    static func firstScalar(_ bytes: RawSpan, _ number: UInt32, _ wire: UInt8) -> UInt64? {
        let wanted = UInt64(number) &<< 3 | UInt64(wire)
        var r = WireReader(bytes)
        while !r.isAtEnd {
            guard let tag = r.varintIfValid() else { return nil }
            if tag == wanted {
                switch wire {
                case WireType.varint: return r.varintIfValid()
                case WireType.fixed64: return try? r.readFixed64()
                case WireType.fixed32: return (try? r.readFixed32()).map(UInt64.init)
                default: return nil
                }
            }
            guard r.skipValidated(tag: tag) else { return nil }
        }
        return nil
    }

    @inlinable
    @_lifetime(copy bytes)
    static func firstLength(_ bytes: RawSpan, _ number: UInt32) -> RawSpan? {
        let wanted = UInt64(number) &<< 3 | UInt64(WireType.lengthDelimited)
        var r = WireReader(bytes)
        while !r.isAtEnd {
            guard let tag = r.varintIfValid() else { return nil }
            if tag == wanted {
                guard let length = r.varintIfValid(), length <= UInt64(r.end &- r.pos) else { return nil }
                return bytes.extracting(r.pos..<r.pos &+ Int(length))
            }
            guard r.skipValidated(tag: tag) else { return nil }
        }
        return nil
    }

    /// The payload of field `number`, or zero bytes (the wire form of every default value)
    /// when the field is absent.
    @inlinable
    @_lifetime(copy bytes)
    static func firstLengthOrEmpty(_ bytes: RawSpan, _ number: UInt32) -> RawSpan {
        if let found = firstLength(bytes, number) { return found }
        return bytes.extracting(0..<0)
    }

    /// Bit n set when field n (< 64) occurs with any wire type: one pass answers "which
    /// fields are present" for code that would otherwise probe each field.
    @inlinable
    static func presentFields(_ bytes: RawSpan) -> UInt64 {
        var scanner = WireScanner(bytes)
        var mask: UInt64 = 0
        while let f = scanner.next() {
            if f.number < 64 { mask |= 1 &<< UInt64(f.number) }
        }
        return mask
    }

    /// The first member of a oneof present in `bytes` (the only one after validation); a
    /// length-delimited member's payload is `bytes.extracting(field.range)`.
    @inlinable
    static func firstOf(_ bytes: RawSpan, _ numbers: ClosedRange<UInt32>, wires: (UInt32) -> UInt8) -> WireField? {
        var scanner = WireScanner(bytes)
        while let f = scanner.next() {
            if numbers.contains(f.number) && wires(f.number) == f.wire { return f }
        }
        return nil
    }
}
