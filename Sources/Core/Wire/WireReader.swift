/// Protobuf wire types.
@usableFromInline
enum WireType {
    @usableFromInline static let varint: UInt8 = 0
    @usableFromInline static let fixed64: UInt8 = 1
    @usableFromInline static let lengthDelimited: UInt8 = 2
    @usableFromInline static let startGroup: UInt8 = 3
    @usableFromInline static let endGroup: UInt8 = 4
    @usableFromInline static let fixed32: UInt8 = 5
}

/// A checked, bounds-safe cursor over untrusted bytes; every read either succeeds inside
/// `[pos, end)` or throws with the absolute offset, so a validator can never read out of bounds.
/// It borrows its input: the compiler keeps it (and every slice it hands out) from outliving it.
@usableFromInline
struct WireReader: ~Escapable {
    @usableFromInline let base: RawSpan
    @usableFromInline var pos: Int
    @usableFromInline let end: Int

    @inlinable
    @_lifetime(copy base)
    init(_ base: RawSpan) {
        self.base = base
        self.pos = 0
        self.end = base.byteCount
    }

    /// A reader of `range` of `base`; `end` never passes `base`'s end, so the reads below, each
    /// checked against `end`, need no second check against the span.
    @inlinable
    @_lifetime(copy base)
    init(base: RawSpan, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= base.byteCount, "range outside the input")
        self.base = base
        self.pos = range.lowerBound
        self.end = range.upperBound
    }

    /// The byte at `offset`, which the caller has checked is below `end`.
    @inlinable
    func byte(_ offset: Int) -> UInt8 {
        base.unsafeLoad(fromUncheckedByteOffset: offset, as: UInt8.self)
    }

    /// The bytes of `range`, which lies inside the input.
    @inlinable
    @_lifetime(copy self)
    func slice(_ range: Range<Int>) -> RawSpan {
        base.extracting(range)
    }

    @inlinable
    var isAtEnd: Bool { pos >= end }

    @inlinable
    func error(_ kind: ProtoDecodeError.Kind, at offset: Int? = nil) -> ProtoDecodeError {
        ProtoDecodeError(kind, offset: offset ?? pos)
    }

    @inlinable
    mutating func readVarint() throws(ProtoDecodeError) -> UInt64 {
        // Most tags and small values are one byte.
        if pos < end {
            let b0 = byte(pos)
            if b0 < 0x80 {
                pos &+= 1
                return UInt64(b0)
            }
        }
        let start = pos
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = pos
        while true {
            guard i < end else { throw error(.truncated, at: start) }
            let next = byte(i)
            i &+= 1
            result |= UInt64(next & 0x7F) &<< shift
            if next < 0x80 { break }
            shift &+= 7
            if shift >= 70 { throw error(.varintTooLong, at: start) }
        }
        pos = i
        return result
    }

    /// A varint or nil, for bytes already validated (no error value to build).
    @inlinable
    mutating func varintIfValid() -> UInt64? {
        if pos < end {
            let b0 = byte(pos)
            if b0 < 0x80 {
                pos &+= 1
                return UInt64(b0)
            }
        }
        return try? readVarint()
    }

    /// Skips the value after raw tag `tag` in bytes a validator has accepted; false (and nothing
    /// skipped) on a value that is not there, so a lookup over other bytes stops in bounds.
    @inlinable
    mutating func skipValidated(tag: UInt64) -> Bool {
        switch UInt8(truncatingIfNeeded: tag & 7) {
        case WireType.varint:
            var i = pos
            while i < end {
                if byte(i) < 0x80 {
                    pos = i &+ 1
                    return true
                }
                i &+= 1
            }
            return false
        case WireType.lengthDelimited:
            let start = pos
            guard let length = varintIfValid(), length <= UInt64(end &- pos) else {
                pos = start
                return false
            }
            pos &+= Int(length)
            return true
        case WireType.fixed64:
            guard end &- pos >= 8 else { return false }
            pos &+= 8
            return true
        case WireType.fixed32:
            guard end &- pos >= 4 else { return false }
            pos &+= 4
            return true
        default:
            let number = UInt32(truncatingIfNeeded: tag >> 3)
            guard tag >> 3 != 0, tag >> 3 <= 0x1FFF_FFFF else { return false }
            return (try? skipField(wire: UInt8(truncatingIfNeeded: tag & 7), number: number, depth: 0)) != nil
        }
    }

    /// Reads a tag, refusing field number 0, numbers beyond 2^29-1 and wire types 6 and 7.
    @inlinable
    mutating func readTag() throws(ProtoDecodeError) -> (number: UInt32, wire: UInt8) {
        let start = pos
        let raw = try readVarint()
        let wire = UInt8(truncatingIfNeeded: raw & 7)
        let number = raw >> 3
        if number == 0 { throw error(.fieldNumberZero, at: start) }
        if number > 0x1FFF_FFFF { throw error(.fieldNumberTooLarge, at: start) }
        if wire > 5 { throw error(.invalidWireType(wire), at: start) }
        return (UInt32(truncatingIfNeeded: number), wire)
    }

    @inlinable
    mutating func readLengthDelimited() throws(ProtoDecodeError) -> Range<Int> {
        let start = pos
        let length = try readVarint()
        guard length <= UInt64(end - pos) else { throw error(.lengthOutOfBounds, at: start) }
        let lower = pos
        pos = lower + Int(length)
        return lower..<pos
    }

    @inlinable
    mutating func readFixed64() throws(ProtoDecodeError) -> UInt64 {
        guard end - pos >= 8 else { throw error(.truncated) }
        let value = base.unsafeLoadUnaligned(fromUncheckedByteOffset: pos, as: UInt64.self)
        pos &+= 8
        return UInt64(littleEndian: value)
    }

    @inlinable
    mutating func readFixed32() throws(ProtoDecodeError) -> UInt32 {
        guard end - pos >= 4 else { throw error(.truncated) }
        let value = base.unsafeLoadUnaligned(fromUncheckedByteOffset: pos, as: UInt32.self)
        pos &+= 4
        return UInt32(littleEndian: value)
    }

    /// A reader for a nested message occupying `range` of the same buffer.
    @inlinable
    @_lifetime(copy self)
    func nested(_ range: Range<Int>) -> WireReader {
        WireReader(base: base, range: range)
    }

    /// Checks a string field's bytes without copying them.
    @inlinable
    func checkUTF8(_ range: Range<Int>) throws(ProtoDecodeError) {
        if let bad = UTF8Check.firstInvalidOffset(base, range) {
            throw error(.invalidUTF8, at: bad)
        }
    }

    /// Skips the value of a field this decoder does not know (or whose wire type does not
    /// match the schema, which protobuf treats as unknown); groups are skipped iteratively.
    @inlinable
    mutating func skipField(wire: UInt8, number: UInt32, depth: Int) throws(ProtoDecodeError) {
        switch wire {
        case WireType.varint: _ = try readVarint()
        case WireType.fixed64: _ = try readFixed64()
        case WireType.lengthDelimited: _ = try readLengthDelimited()
        case WireType.fixed32: _ = try readFixed32()
        case WireType.startGroup: try skipGroup(number: number, depth: depth)
        default: throw error(.unmatchedEndGroup, at: pos - 1)
        }
    }

    @usableFromInline
    mutating func skipGroup(number: UInt32, depth: Int) throws(ProtoDecodeError) {
        // Open groups are tracked on a small fixed stack bounded by the depth budget.
        var open: [UInt32] = [number]
        while let current = open.last {
            if depth + open.count > ProtoLimits.maxDepth { throw error(.depthLimitExceeded) }
            guard !isAtEnd else { throw error(.truncated) }
            let start = pos
            let tag = try readTag()
            switch tag.wire {
            case WireType.startGroup: open.append(tag.number)
            case WireType.endGroup:
                guard tag.number == current else { throw error(.unmatchedEndGroup, at: start) }
                open.removeLast()
            default: try skipField(wire: tag.wire, number: tag.number, depth: depth)
            }
        }
    }
}
