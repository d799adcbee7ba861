/// Writes JSON text with two-space indentation (the layout `opamp decode` prints).
public struct JSONWriter {
    /// The UTF-8 text written so far.
    public private(set) var bytes: [UInt8] = []
    private var indent = 0
    private var needsComma: [Bool] = []
    private let pretty: Bool

    /// A writer; `pretty: false` gives one line with no spaces.
    public init(pretty: Bool = true) {
        self.pretty = pretty
    }

    /// The text as a Swift string.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func raw(_ s: String) {
        bytes.append(contentsOf: s.utf8)
    }

    private mutating func newline() {
        guard pretty else { return }
        bytes.append(0x0A)
        bytes.append(contentsOf: repeatElement(0x20, count: indent * 2))
    }

    private mutating func beforeValue() {
        if let last = needsComma.last {
            if last { raw(",") }
            needsComma[needsComma.count - 1] = true
            newline()
        }
    }

    /// Opens an object (top level, array element or member value).
    public mutating func beginObject() {
        valueStart()
        raw("{")
        indent += 1
        needsComma.append(false)
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        indent -= 1
        if needsComma.removeLast() { newline() }
        raw("}")
    }

    /// Opens an array (top level, array element or member value).
    public mutating func beginArray() {
        valueStart()
        raw("[")
        indent += 1
        needsComma.append(false)
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        indent -= 1
        if needsComma.removeLast() { newline() }
        raw("]")
    }

    /// Writes a member name; the next call writes its value.
    public mutating func key(_ name: String) {
        beforeValue()
        writeQuoted(name)
        raw(pretty ? ": " : ":")
        // The value that follows must not add another comma or newline.
        valuePending = true
    }

    private var valuePending = false

    private mutating func valueStart() {
        if valuePending {
            valuePending = false
        } else {
            beforeValue()
        }
    }

    /// Writes a string value.
    public mutating func string(_ s: String) {
        valueStart()
        writeQuoted(s)
    }

    /// Writes a number value given as JSON number text.
    public mutating func number(_ text: String) {
        valueStart()
        raw(text)
    }

    /// Writes a boolean value.
    public mutating func bool(_ b: Bool) {
        valueStart()
        raw(b ? "true" : "false")
    }

    /// Writes any parsed JSON value.
    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null:
            valueStart()
            raw("null")
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for (k, m) in members {
                key(k)
                value(m)
            }
            endObject()
        }
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `s` as a JSON string literal, quotes included: for writers that build a large
    /// answer in one buffer (no string per value).
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: "\\\"".utf8)
            case 0x5C: out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0x08: out.append(contentsOf: "\\b".utf8)
            case 0x0C: out.append(contentsOf: "\\f".utf8)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }

    private mutating func writeQuoted(_ s: String) {
        Self.appendQuoted(s, to: &bytes)
    }
}
