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
        var writer = JSONWriter(pretty: false)
        writer.writeQuoted(s)
        return writer.text
    }

    private mutating func writeQuoted(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: raw("\\\"")
            case 0x5C: raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                raw("\\u00")
                bytes.append(hex[Int(b >> 4)])
                bytes.append(hex[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }
}
