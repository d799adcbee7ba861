/// A decoded-on-demand message over borrowed bytes that a validator has accepted.
///
/// Views are non-escapable: one lives only as long as the input it reads, and the compiler
/// rejects any use that would outlive it (`decode(bytes) { $0 }`, storing a view in a property,
/// returning a field's view from the decode closure). What outlives the input is an owned copy
/// (`owned()`, `string`, `array`).
public protocol ProtoView: ~Escapable {
    /// Wraps bytes already validated as this message (or empty bytes for the default value).
    @_lifetime(copy bytes)
    init(unchecked bytes: RawSpan)
}

extension ProtoView where Self: ~Escapable {
    /// The view of `bytes`, or nil when the field is absent.
    @inlinable
    @_lifetime(copy bytes)
    static func present(_ bytes: RawSpan?) -> Self? {
        guard let bytes else { return nil }
        return Self(unchecked: bytes)
    }
}

/// A `bytes` field: the borrowed payload, valid while the decoded input is.
public struct ProtoBytes: ProtoView, ~Escapable {
    /// The payload, inside the decoded input.
    @usableFromInline let span: RawSpan

    /// Wraps a payload.
    @inlinable
    @_lifetime(copy bytes)
    public init(unchecked bytes: RawSpan) {
        span = bytes
    }

    /// Number of bytes.
    @inlinable public var count: Int { span.byteCount }
    /// True for a zero-length payload.
    @inlinable public var isEmpty: Bool { span.isEmpty }
    /// A copy that outlives the input.
    @inlinable public var array: [UInt8] { span.byteArray }

    /// Compares contents (not addresses).
    @inlinable
    public static func == (lhs: borrowing ProtoBytes, rhs: borrowing ProtoBytes) -> Bool {
        lhs.span.bytesEqual(rhs.span)
    }

    /// Compares with an owned byte array without copying.
    @inlinable
    public static func == (lhs: borrowing ProtoBytes, rhs: [UInt8]) -> Bool {
        lhs.span.bytesEqual(rhs)
    }
}

/// A `string` field: borrowed, already-validated UTF-8.
public struct ProtoString: ProtoView, ~Escapable {
    /// The UTF-8 payload, inside the decoded input.
    @usableFromInline let span: RawSpan

    /// Wraps a payload that a validator has checked is UTF-8.
    @inlinable
    @_lifetime(copy bytes)
    public init(unchecked bytes: RawSpan) {
        span = bytes
    }

    /// An owned copy.
    @inlinable public var string: String { span.utf8String }
    /// True for "".
    @inlinable public var isEmpty: Bool { span.isEmpty }
    /// Length in UTF-8 bytes.
    @inlinable public var utf8Count: Int { span.byteCount }

    /// Compares contents.
    @inlinable
    public static func == (lhs: borrowing ProtoString, rhs: borrowing ProtoString) -> Bool {
        lhs.span.bytesEqual(rhs.span)
    }

    /// Compares with a Swift string without allocating.
    @inlinable
    public static func == (lhs: borrowing ProtoString, rhs: String) -> Bool {
        lhs.span.bytesEqual(utf8: rhs)
    }
}

/// The occurrences of one repeated length-delimited field, in wire order, decoded lazily.
///
/// Not a `Sequence`, whose elements must be escapable: walk it with `makeIterator()` and
/// `while let`, with `forEach`, or with `map` for owned results.
public struct ProtoRepeated<Element: ProtoView & ~Escapable>: ~Escapable {
    @usableFromInline let bytes: RawSpan
    @usableFromInline let number: UInt32

    @inlinable
    @_lifetime(copy bytes)
    init(_ bytes: RawSpan, _ number: UInt32) {
        self.bytes = bytes
        self.number = number
    }

    /// Walks the parent message once, yielding each occurrence.
    public struct Iterator: ~Escapable {
        @usableFromInline var scanner: WireScanner
        @usableFromInline let number: UInt32

        @inlinable
        @_lifetime(copy parent)
        init(_ parent: borrowing ProtoRepeated) {
            scanner = WireScanner(parent.bytes)
            number = parent.number
        }

        /// The next occurrence, or nil after the last.
        @inlinable
        @_lifetime(copy self)
        public mutating func next() -> Element? {
            while let f = scanner.next() {
                if f.number == number && f.wire == WireType.lengthDelimited {
                    return Element(unchecked: scanner.slice(f.range))
                }
            }
            return nil
        }
    }

    /// An iterator over the occurrences, living as long as this view.
    @inlinable
    @_lifetime(copy self)
    public func makeIterator() -> Iterator { Iterator(self) }

    /// Calls `body` with each occurrence in wire order.
    @inlinable
    public func forEach<E: Error>(_ body: (borrowing Element) throws(E) -> Void) throws(E) {
        var it = makeIterator()
        while let element = it.next() { try body(element) }
    }

    /// The owned results of `transform` over each occurrence, in wire order.
    @inlinable
    public func map<T, E: Error>(_ transform: (borrowing Element) throws(E) -> T) throws(E) -> [T] {
        var out: [T] = []
        var it = makeIterator()
        while let element = it.next() { out.append(try transform(element)) }
        return out
    }

    /// Number of occurrences (walks the parent).
    @inlinable
    public var count: Int {
        var n = 0
        var it = makeIterator()
        while it.next() != nil { n &+= 1 }
        return n
    }

    /// True when the field does not occur.
    @inlinable
    public var isEmpty: Bool {
        var it = makeIterator()
        return it.next() == nil
    }
}

/// One entry of a protobuf map as stored on the wire (`key` = 1, `value` = 2).
public struct ProtoMapEntry<Value: ProtoView & ~Escapable>: ProtoView, ~Escapable {
    @usableFromInline let bytes: RawSpan

    /// Wraps an entry's bytes.
    @inlinable
    @_lifetime(copy bytes)
    public init(unchecked bytes: RawSpan) {
        self.bytes = bytes
    }

    /// The entry's key ("" when absent, as protobuf defaults it).
    @inlinable
    public var key: ProtoString {
        @_lifetime(copy self)
        get { ProtoString(unchecked: WireLookup.firstLengthOrEmpty(bytes, 1)) }
    }

    /// The entry's value (the default value when absent).
    @inlinable
    public var value: Value {
        @_lifetime(copy self)
        get { Value(unchecked: WireLookup.firstLengthOrEmpty(bytes, 2)) }
    }
}

/// A `map<string, V>` field read lazily. Validation sends a message whose map repeats a key to
/// the merge path (protobuf keeps the last entry), so on the view path each key occurs once.
public struct ProtoMap<Value: ProtoView & ~Escapable>: ~Escapable {
    /// The entries in wire order; iterate them for `key` and `value` of each.
    public let entries: ProtoRepeated<ProtoMapEntry<Value>>

    @inlinable
    @_lifetime(copy bytes)
    init(_ bytes: RawSpan, _ number: UInt32) {
        entries = ProtoRepeated(bytes, number)
    }

    /// The value for `key`, or nil when no entry has it.
    @inlinable
    public subscript(key: String) -> Value? {
        @_lifetime(copy self)
        get {
            var it = entries.makeIterator()
            while let entry = it.next() {
                if entry.key == key { return entry.value }
            }
            return nil
        }
    }

    /// An iterator over the entries, living as long as this view.
    @inlinable
    @_lifetime(copy self)
    public func makeIterator() -> ProtoRepeated<ProtoMapEntry<Value>>.Iterator { entries.makeIterator() }

    /// Calls `body` with each entry in wire order.
    @inlinable
    public func forEach<E: Error>(_ body: (borrowing ProtoMapEntry<Value>) throws(E) -> Void) throws(E) {
        try entries.forEach(body)
    }

    /// The owned results of `transform` over each entry, in wire order.
    @inlinable
    public func map<T, E: Error>(_ transform: (borrowing ProtoMapEntry<Value>) throws(E) -> T) throws(E) -> [T] {
        try entries.map(transform)
    }

    /// Number of keys.
    @inlinable
    public var count: Int { entries.count }

    /// True when the map has no entries.
    @inlinable
    public var isEmpty: Bool { entries.isEmpty }
}
