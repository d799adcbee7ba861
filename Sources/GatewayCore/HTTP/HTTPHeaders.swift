/// A request's header fields in arrival order, kept as ranges over the request head's own bytes.
///
/// One buffer and one range array per request, however many fields: no `String` is made until asked.
/// Names compare ASCII case-insensitively; values are stored without surrounding whitespace.
public struct HTTPHeaders: Sendable {
    struct Field: Sendable, Hashable {
        var name: Range<Int>
        var value: Range<Int>
    }

    let storage: [UInt8]
    let fields: [Field]

    init(storage: [UInt8], fields: [Field]) {
        self.storage = storage
        self.fields = fields
    }

    /// Headers from name/value pairs, for synthetic requests and tests.
    public init(_ pairs: [(name: String, value: String)]) {
        var storage: [UInt8] = []
        var fields: [Field] = []
        for (name, value) in pairs {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            fields.append(Field(name: nameStart..<valueStart, value: valueStart..<storage.count))
        }
        self.init(storage: storage, fields: fields)
    }

    /// The first value of the field `name`, as bytes sharing the head's storage.
    public func valueBytes(_ name: String) -> ArraySlice<UInt8>? {
        fields.first { nameMatches($0, name) }.map { storage[$0.value] }
    }

    /// The first value of the field `name`.
    public subscript(name: String) -> String? {
        valueBytes(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every value of the field `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { nameMatches($0, name) }.map { String(decoding: storage[$0.value], as: UTF8.self) }
    }

    /// All lines of the field `name` joined with ", ", which RFC 9110 §5.3 makes equivalent to one line.
    public func combinedValue(_ name: String) -> String? {
        let all = values(name)
        return all.isEmpty ? nil : all.joined(separator: ", ")
    }

    /// Whether the field `name` is present.
    public func contains(_ name: String) -> Bool { fields.contains { nameMatches($0, name) } }

    /// Whether any line of the comma-separated list field `name` holds `token` (case-insensitive).
    public func containsToken(_ token: String, in name: String) -> Bool {
        var found = false
        forEachElement(of: name) { element in
            found = HTTPSyntax.equalsIgnoringCase(element, token)
            return !found
        }
        return found
    }

    /// Calls `body` with every list element of every line of `name` until it returns false.
    func forEachElement(of name: String, _ body: (ArraySlice<UInt8>) -> Bool) {
        for field in fields where nameMatches(field, name) {
            var keepGoing = true
            HTTPSyntax.forEachElement(of: storage[field.value]) { element in
                keepGoing = body(element)
                return keepGoing
            }
            if !keepGoing { return }
        }
    }

    func name(of field: Field) -> ArraySlice<UInt8> { storage[field.name] }

    func nameMatches(_ field: Field, _ name: String) -> Bool {
        HTTPSyntax.equalsIgnoringCase(storage[field.name], name)
    }
}

extension HTTPHeaders: RandomAccessCollection {
    /// Always 0.
    public var startIndex: Int { 0 }
    /// The number of fields.
    public var endIndex: Int { fields.count }

    /// The field at `position`, as received (name case preserved).
    public subscript(position: Int) -> (name: String, value: String) {
        let field = fields[position]
        return (
            String(decoding: storage[field.name], as: UTF8.self), String(decoding: storage[field.value], as: UTF8.self)
        )
    }
}

extension HTTPHeaders: Equatable {
    /// Same fields in the same order, names compared exactly, wherever they sit in storage.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        return zip(lhs.fields, rhs.fields).allSatisfy { left, right in
            lhs.storage[left.name] == rhs.storage[right.name] && lhs.storage[left.value] == rhs.storage[right.value]
        }
    }
}
