/// Copies and comparisons of borrowed bytes. Core reads its input through `RawSpan`, whose
/// lifetime the compiler checks; this file is the one place in Core that opens a span's memory
/// or a value's bytes (to hand them to the standard library's bulk copies and comparisons, which
/// take pointers), and no pointer it opens outlives the call that opened it.
extension [UInt8] {
    /// Appends `value`'s eight bytes, least significant first, in one copy (the encoder's
    /// fixed64 fields and the 16-byte uid of every reply).
    @inlinable
    mutating func appendLittleEndian(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension RawSpan {
    /// An owned copy of the bytes.
    @inlinable
    public var byteArray: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// An owned string of the bytes, read as UTF-8 (invalid sequences repaired).
    @inlinable
    public var utf8String: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// True when both hold the same bytes.
    @inlinable
    public func bytesEqual(_ other: borrowing RawSpan) -> Bool {
        guard byteCount == other.byteCount else { return false }
        return withUnsafeBytes { lhs in other.withUnsafeBytes { rhs in lhs.elementsEqual(rhs) } }
    }

    /// True when the bytes equal `array`.
    @inlinable
    func bytesEqual(_ array: [UInt8]) -> Bool {
        bytesEqual(array.span.bytes)
    }

    /// True when the bytes are `string`'s UTF-8.
    @inlinable
    func bytesEqual(utf8 string: String) -> Bool {
        var copy = string
        return copy.withUTF8 { utf8 in withUnsafeBytes { $0.elementsEqual(UnsafeRawBufferPointer(utf8)) } }
    }

    /// Appends the bytes to `array`.
    @inlinable
    public func append(to array: inout [UInt8]) {
        withUnsafeBytes { array.append(contentsOf: $0) }
    }
}
