/// Conversions between JSON values and protobuf field types, as protobuf's JSON mapping
/// defines them (64-bit integers as strings or numbers, bytes as base64, enums by name).
public enum JSONField {
    /// A `string` field.
    public static func string(_ v: JSONValue) throws -> String {
        guard case .string(let s) = v else { throw JSONError("expected a string") }
        return s
    }

    /// A `bytes` field (standard or URL-safe base64).
    public static func bytes(_ v: JSONValue) throws -> [UInt8] {
        guard case .string(let s) = v, let b = Base64.decode(s) else { throw JSONError("expected base64 bytes") }
        return b
    }

    /// A `bool` field.
    public static func bool(_ v: JSONValue) throws -> Bool {
        guard case .bool(let b) = v else { throw JSONError("expected true or false") }
        return b
    }

    private static func integerText(_ v: JSONValue) throws -> String {
        switch v {
        case .string(let s): return s
        case .number(let n): return n
        default: throw JSONError("expected an integer")
        }
    }

    /// A `uint64`/`fixed64` field, as a string or a number.
    public static func uint64(_ v: JSONValue) throws -> UInt64 {
        let text = try integerText(v)
        if let u = UInt64(text) { return u }
        // Numbers like 1e3 or 5.0 are accepted when they are exact integers.
        if let d = Double(text), d >= 0, d < 18446744073709551616.0, d == d.rounded(.towardZero) {
            return UInt64(d)
        }
        throw JSONError("expected an unsigned 64-bit integer, got \(text)")
    }

    /// An `int64` field, as a string or a number.
    public static func int64(_ v: JSONValue) throws -> Int64 {
        let text = try integerText(v)
        if let i = Int64(text) { return i }
        if let d = Double(text), d >= -9223372036854775808.0, d < 9223372036854775808.0, d == d.rounded(.towardZero) {
            return Int64(d)
        }
        throw JSONError("expected a signed 64-bit integer, got \(text)")
    }

    /// A `double` field: a number, or "NaN", "Infinity", "-Infinity", or a numeric string.
    public static func double(_ v: JSONValue) throws -> Double {
        switch v {
        case .number(let n):
            if let d = Double(n) { return d }
        case .string(let s):
            switch s {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: if let d = Double(s) { return d }
            }
        default: break
        }
        throw JSONError("expected a number")
    }

    /// An enum field by proto name or number.
    public static func enumValue(_ v: JSONValue, _ byName: (String) -> (some RawRepresentable<Int32>)?) throws -> Int32
    {
        switch v {
        case .string(let s):
            if let e = byName(s) { return e.rawValue }
            throw JSONError("unknown enum value \"\(s)\"")
        case .number(let n):
            if let i = Int32(n) { return i }
        default: break
        }
        throw JSONError("expected an enum name or number")
    }

    /// A repeated field.
    public static func array<T>(_ v: JSONValue, _ element: (JSONValue) throws -> T) throws -> [T] {
        guard case .array(let items) = v else { throw JSONError("expected an array") }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            do {
                out.append(try element(item))
            } catch let e as JSONError {
                throw e.inField("[\(i)]")
            }
        }
        return out
    }

    /// A `map<string, T>` field.
    public static func map<T>(_ v: JSONValue, _ element: (JSONValue) throws -> T) throws -> [String: T] {
        guard case .object(let members) = v else { throw JSONError("expected an object") }
        var out: [String: T] = [:]
        for (k, item) in members {
            do {
                out[k] = try element(item)
            } catch let e as JSONError {
                throw e.inField(k)
            }
        }
        return out
    }

    /// Writes an enum by name, or by number when the value is unknown.
    public static func write(_ name: String?, _ raw: Int32, to w: inout JSONWriter) {
        if let name { w.string(name) } else { w.number(String(raw)) }
    }

    /// Writes a double; non-finite values as the strings protobuf JSON uses.
    public static func write(_ d: Double, to w: inout JSONWriter) {
        if d.isNaN {
            w.string("NaN")
        } else if d.isInfinite {
            w.string(d < 0 ? "-Infinity" : "Infinity")
        } else {
            w.number(d.description)
        }
    }
}
