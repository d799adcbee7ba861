/// A parsed JSON document; object members keep their input order.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number kept as its source text, so 64-bit integers survive exactly.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// Compares objects as unordered maps and numbers by value.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)):
            if a == b { return true }
            guard let x = Double(a), let y = Double(b) else { return false }
            return x == y
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b.first(where: { $0.0 == key }), other.1 == value else { return false }
            }
            return true
        default: return false
        }
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.last(where: { $0.0 == key })?.1 }
        return nil
    }
}

/// A JSON syntax error or a JSON document that does not fit the message schema.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, in English.
    public var message: String
    /// Dotted path of the offending member, when known.
    public var path: String

    /// Makes an error at `path`.
    public init(_ message: String, path: String = "") {
        self.message = message
        self.path = path
    }

    /// The same error seen from the enclosing member `name`.
    public func inField(_ name: String) -> JSONError {
        var copy = self
        copy.path = path.isEmpty ? name : name + "." + path
        return copy
    }

    /// One line for humans.
    public var description: String {
        path.isEmpty ? message : "\(message) at \(path)"
    }
}
