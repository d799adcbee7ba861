/// Writes `YNode`s as block YAML with deterministic quoting, for canonical output.
public enum YAMLEmitter {
    /// The node as a YAML document (ends with a newline).
    public static func emit(_ node: YNode) -> String {
        var out = ""
        switch node.kind {
        case .mapping(let pairs) where !pairs.isEmpty:
            emitPairs(pairs, indent: 0, into: &out)
        case .sequence(let items) where !items.isEmpty:
            emitItems(items, indent: 0, into: &out)
        default:
            out = scalarText(node) + "\n"
        }
        return out
    }

    static func emitPairs(_ pairs: [YPair], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for pair in pairs {
            out += pad + keyText(pair.key) + ":"
            emitValue(pair.value, indent: indent, into: &out)
        }
    }

    static func emitItems(_ items: [YNode], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            switch item.kind {
            case .mapping(let pairs) where !pairs.isEmpty:
                // The first pair shares the dash's line; the rest align under it.
                var first = ""
                emitPairs([pairs[0]], indent: indent + 2, into: &first)
                out += pad + "- " + first.dropFirst(indent + 2)
                emitPairs(Array(pairs.dropFirst()), indent: indent + 2, into: &out)
            case .sequence(let inner) where !inner.isEmpty:
                out += pad + "-\n"
                emitItems(inner, indent: indent + 2, into: &out)
            default:
                out += pad + "- " + scalarText(item) + "\n"
            }
        }
    }

    static func emitValue(_ value: YNode, indent: Int, into out: inout String) {
        switch value.kind {
        case .mapping(let pairs):
            if pairs.isEmpty {
                out += " {}\n"
            } else {
                out += "\n"
                emitPairs(pairs, indent: indent + 2, into: &out)
            }
        case .sequence(let items):
            if items.isEmpty {
                out += " []\n"
            } else if items.allSatisfy({ $0.scalar != nil && !($0.scalar!.includes("\n")) }), items.count <= 8,
                items.map({ scalarText($0).count + 2 }).reduce(indent, +) < 100
            {
                out += " [" + items.map { flowScalarText($0) }.joined(separator: ", ") + "]\n"
            } else {
                out += "\n"
                emitItems(items, indent: indent + 2, into: &out)
            }
        case .scalar:
            out += " " + scalarText(value) + "\n"
        }
    }

    static func keyText(_ key: String) -> String {
        isSafePlain(key, flow: false) && !looksTyped(key) ? key : quoted(key)
    }

    /// Plain when that reads back as the same string, double-quoted otherwise.
    static func scalarText(_ node: YNode) -> String {
        guard case .scalar(let text, let style) = node.kind else { return "" }
        if node.isNull { return "null" }
        if style == .plain { return isSafePlain(text, flow: false) ? text : quoted(text) }
        return isSafePlain(text, flow: false) && !looksTyped(text) ? text : quoted(text)
    }

    static func flowScalarText(_ node: YNode) -> String {
        guard case .scalar(let text, let style) = node.kind else { return "" }
        if node.isNull { return "null" }
        let plainOK = isSafePlain(text, flow: true) && (style == .plain || !looksTyped(text))
        return plainOK ? text : quoted(text)
    }

    /// True for text a plain scalar would turn into a bool, null or number.
    static func looksTyped(_ text: String) -> Bool {
        let lower = text.lowercased()
        if ["true", "false", "yes", "no", "on", "off", "null", "~", ""].contains(lower) { return true }
        if Double(text) != nil || Int(text) != nil { return true }
        if lower.hasPrefix("0x") || lower.hasPrefix("0o") || lower == ".inf" || lower == "-.inf" || lower == ".nan" {
            return true
        }
        return false
    }

    static func isSafePlain(_ text: String, flow: Bool) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if " \t".unicodeScalars.contains(first) || " \t".unicodeScalars.contains(last) { return false }
        if "-?:,[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) {
            if !((first == "-" || first == "?" || first == ":") && text.count > 1
                && !" ".unicodeScalars.contains(Array(text.unicodeScalars)[1]))
            {
                return false
            }
        }
        if text.includes(": ") || text.includes(" #") || text.hasSuffix(":") { return false }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\u{7F}" }) { return false }
        if flow, text.unicodeScalars.contains(where: { ",[]{}".unicodeScalars.contains($0) }) { return false }
        return true
    }

    static func quoted(_ text: String) -> String { JSONText.string(text) }
}
