/// A growable output buffer owned by the caller (pool it to avoid allocations); encoders
/// reserve the exact encoded size first, so appending never re-allocates mid-message.
public struct ProtoWriter: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]

    /// An empty writer with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer but keeps its storage for reuse.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Makes sure `additional` more bytes fit without growing.
    @inlinable
    public mutating func reserve(_ additional: Int) {
        let need = bytes.count + additional
        if bytes.capacity < need { bytes.reserveCapacity(need) }
    }

    /// Appends a base-128 varint.
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Appends a field tag.
    @inlinable
    public mutating func writeTag(_ number: UInt32, _ wire: UInt8) {
        writeVarint(UInt64(number) << 3 | UInt64(wire))
    }

    /// Appends a little-endian 64-bit value.
    @inlinable
    public mutating func writeFixed64(_ value: UInt64) {
        bytes.appendLittleEndian(value)
    }

    /// Appends a length-prefixed byte string.
    @inlinable
    public mutating func writeLengthDelimited(_ payload: RawSpan) {
        writeVarint(UInt64(payload.byteCount))
        payload.append(to: &bytes)
    }

    /// Appends a length-prefixed byte array.
    @inlinable
    public mutating func writeLengthDelimited(_ payload: [UInt8]) {
        writeVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    /// Appends a length-prefixed UTF-8 string.
    @inlinable
    public mutating func writeString(_ string: String) {
        var s = string
        s.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends already-encoded bytes (e.g. a shared, pre-encoded field).
    @inlinable
    public mutating func writeRaw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }
}

/// Encoded-size arithmetic shared by every generated `encodedSize`.
public enum ProtoSize {
    /// Bytes taken by `value` as a varint.
    @inlinable
    public static func varint(_ value: UInt64) -> Int {
        // 1 + floor(bits/7), branch-free: 64 - lzcnt gives the bit length.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    /// Bytes taken by a tag for `number`.
    @inlinable
    public static func tag(_ number: UInt32) -> Int {
        varint(UInt64(number) << 3)
    }

    /// Bytes taken by a length-delimited field with a payload of `length` bytes (tag excluded).
    @inlinable
    public static func lengthDelimited(_ length: Int) -> Int {
        varint(UInt64(length)) + length
    }

    /// Bytes taken by a string's UTF-8 payload with its length prefix.
    @inlinable
    public static func string(_ string: String) -> Int {
        lengthDelimited(string.utf8.count)
    }
}
