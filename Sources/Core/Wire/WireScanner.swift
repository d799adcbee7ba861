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
struct WireScanner {
    @usableFromInline var reader: WireReader

    @inlinable
    init(_ bytes: UnsafeRawBufferPointer) {
        reader = WireReader(bytes)
    }

    @inlinable
    mutating func next() -> WireField? {
        while !reader.isAtEnd {
            guard let tag = try? reader.readTag() else { return stop() }
            switch tag.wire {
            case WireType.varint:
                guard let v = try? reader.readVarint() else { return stop() }
                return WireField(number: tag.number, wire: tag.wire, scalar: v, range: 0..<0)
            case WireType.lengthDelimited:
                guard let r = try? reader.readLengthDelimited() else { return stop() }
                return WireField(number: tag.number, wire: tag.wire, scalar: 0, range: r)
            case WireType.fixed64:
                guard let v = try? reader.readFixed64() else { return stop() }
                return WireField(number: tag.number, wire: tag.wire, scalar: v, range: 0..<0)
            case WireType.fixed32:
                guard let v = try? reader.readFixed32() else { return stop() }
                return WireField(number: tag.number, wire: tag.wire, scalar: UInt64(v), range: 0..<0)
            default:
                guard (try? reader.skipField(wire: tag.wire, number: tag.number, depth: 0)) != nil
                else { return stop() }
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
    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: reader.base[range])
    }
}

/// Last-occurrence lookups used by the generated views (protobuf: the last value wins).
@usableFromInline
enum WireLookup {
    /// Zero bytes: the wire form of every default value.
    @inlinable
    static var empty: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    @inlinable
    static func lastScalar(_ bytes: UnsafeRawBufferPointer, _ number: UInt32, _ wire: UInt8) -> UInt64? {
        var scanner = WireScanner(bytes)
        var found: UInt64? = nil
        while let f = scanner.next() {
            if f.number == number && f.wire == wire { found = f.scalar }
        }
        return found
    }

    @inlinable
    static func lastLength(_ bytes: UnsafeRawBufferPointer, _ number: UInt32) -> UnsafeRawBufferPointer? {
        var scanner = WireScanner(bytes)
        var found: Range<Int>? = nil
        while let f = scanner.next() {
            if f.number == number && f.wire == WireType.lengthDelimited { found = f.range }
        }
        return found.map { scanner.slice($0) }
    }

    /// The last member of a oneof present in `bytes`, as (field number, field).
    @inlinable
    static func lastOf(_ bytes: UnsafeRawBufferPointer, _ numbers: ClosedRange<UInt32>, wires: (UInt32) -> UInt8) -> (
        WireField, UnsafeRawBufferPointer
    )? {
        var scanner = WireScanner(bytes)
        var found: WireField? = nil
        while let f = scanner.next() {
            if numbers.contains(f.number) && wires(f.number) == f.wire { found = f }
        }
        return found.map { ($0, scanner.slice($0.range)) }
    }
}
