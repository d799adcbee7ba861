/// A decoded-on-demand message over borrowed bytes that a validator has accepted.
public protocol ProtoView {
    /// Wraps bytes already validated as this message (or empty bytes for the default value).
    init(unchecked bytes: UnsafeRawBufferPointer)
}

/// A `bytes` field: the borrowed payload, valid while the decoded input is.
public struct ProtoBytes: ProtoView, Equatable {
    /// The payload, pointing into the decoded input.
    public let unsafeBytes: UnsafeRawBufferPointer

    /// Wraps a payload.
    @inlinable
    public init(unchecked bytes: UnsafeRawBufferPointer) {
        unsafeBytes = bytes
    }

    /// Number of bytes.
    @inlinable public var count: Int { unsafeBytes.count }
    /// True for a zero-length payload.
    @inlinable public var isEmpty: Bool { unsafeBytes.isEmpty }
    /// A copy that outlives the input.
    @inlinable public var array: [UInt8] { Array(unsafeBytes) }

    /// Compares contents (not addresses).
    @inlinable
    public static func == (lhs: ProtoBytes, rhs: ProtoBytes) -> Bool {
        lhs.unsafeBytes.elementsEqual(rhs.unsafeBytes)
    }

    /// Compares with an owned byte array without copying.
    @inlinable
    public static func == (lhs: ProtoBytes, rhs: [UInt8]) -> Bool {
        lhs.unsafeBytes.elementsEqual(rhs)
    }
}

/// A `string` field: borrowed, already-validated UTF-8.
public struct ProtoString: ProtoView, Equatable, CustomStringConvertible {
    /// The UTF-8 payload, pointing into the decoded input.
    public let utf8: UnsafeRawBufferPointer

    /// Wraps a payload that a validator has checked is UTF-8.
    @inlinable
    public init(unchecked bytes: UnsafeRawBufferPointer) {
        utf8 = bytes
    }

    /// An owned copy.
    @inlinable public var string: String { String(decoding: utf8, as: UTF8.self) }
    /// True for "".
    @inlinable public var isEmpty: Bool { utf8.isEmpty }
    /// The owned string.
    public var description: String { string }

    /// Compares contents.
    @inlinable
    public static func == (lhs: ProtoString, rhs: ProtoString) -> Bool {
        lhs.utf8.elementsEqual(rhs.utf8)
    }

    /// Compares with a Swift string without allocating.
    @inlinable
    public static func == (lhs: ProtoString, rhs: String) -> Bool {
        var copy = rhs
        return copy.withUTF8 { lhs.utf8.elementsEqual(UnsafeRawBufferPointer($0)) }
    }
}

/// The occurrences of one repeated length-delimited field, in wire order, decoded lazily.
public struct ProtoRepeated<Element: ProtoView>: Sequence {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline let number: UInt32

    @inlinable
    init(_ bytes: UnsafeRawBufferPointer, _ number: UInt32) {
        self.bytes = bytes
        self.number = number
    }

    /// Walks the parent message once, yielding each occurrence.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var scanner: WireScanner
        @usableFromInline let number: UInt32

        @inlinable
        init(_ bytes: UnsafeRawBufferPointer, _ number: UInt32) {
            scanner = WireScanner(bytes)
            self.number = number
        }

        @inlinable
        public mutating func next() -> Element? {
            while let f = scanner.next() {
                if f.number == number && f.wire == WireType.lengthDelimited {
                    return Element(unchecked: scanner.slice(f.range))
                }
            }
            return nil
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(bytes, number) }

    /// Number of occurrences (walks the parent).
    @inlinable
    public var count: Int { reduce(0) { n, _ in n + 1 } }

    /// True when the field does not occur.
    @inlinable
    public var isEmpty: Bool {
        var it = makeIterator()
        return it.next() == nil
    }
}

/// One entry of a protobuf map as stored on the wire (`key` = 1, `value` = 2).
public struct ProtoMapEntry<Value: ProtoView>: ProtoView {
    @usableFromInline let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(unchecked bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The entry's key ("" when absent, as protobuf defaults it).
    @inlinable
    public var key: ProtoString {
        ProtoString(unchecked: WireLookup.firstLength(bytes, 1) ?? UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// The entry's value (the default value when absent).
    @inlinable
    public var value: Value {
        Value(unchecked: WireLookup.firstLength(bytes, 2) ?? UnsafeRawBufferPointer(start: nil, count: 0))
    }
}

/// A `map<string, V>` field read lazily. Validation sends a message whose map repeats a key to
/// the merge path (protobuf keeps the last entry), so on the view path each key occurs once.
public struct ProtoMap<Value: ProtoView>: Sequence {
    @usableFromInline let entries: ProtoRepeated<ProtoMapEntry<Value>>

    @inlinable
    init(_ bytes: UnsafeRawBufferPointer, _ number: UInt32) {
        entries = ProtoRepeated(bytes, number)
    }

    /// The value for `key`, or nil when no entry has it.
    @inlinable
    public subscript(key: String) -> Value? {
        for entry in entries where entry.key == key { return entry.value }
        return nil
    }

    /// Yields each entry in wire order.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var inner: ProtoRepeated<ProtoMapEntry<Value>>.Iterator

        @inlinable
        init(_ inner: ProtoRepeated<ProtoMapEntry<Value>>.Iterator) {
            self.inner = inner
        }

        @inlinable
        public mutating func next() -> (key: ProtoString, value: Value)? {
            guard let entry = inner.next() else { return nil }
            return (entry.key, entry.value)
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(entries.makeIterator()) }

    /// Number of keys.
    @inlinable
    public var count: Int { reduce(0) { n, _ in n + 1 } }

    /// True when the map has no entries.
    @inlinable
    public var isEmpty: Bool { entries.isEmpty }
}
