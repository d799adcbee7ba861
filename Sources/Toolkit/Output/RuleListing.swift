/// The rule catalogue as text or JSON (`ampora-tool rules`).
public enum RuleListing {
    /// Renders `rules`.
    public static func render(_ rules: [RuleInfo], json: Bool) -> String {
        if json {
            let items = rules.map { rule in
                JSONText.object([
                    ("id", JSONText.string(rule.id.rawValue)), ("severity", JSONText.string(rule.severity.rawValue)),
                    ("category", JSONText.string(rule.category.rawValue)),
                    ("validate", String(rule.refusal)),
                    ("fixable", String(rule.fixable)), ("summary", JSONText.string(rule.summary)),
                    ("rationale", JSONText.string(rule.rationale)),
                ])
            }
            return "[\n  " + items.joined(separator: ",\n  ") + "\n]\n"
        }
        var out = ""
        for rule in rules {
            let flags =
                [rule.category.rawValue] + (rule.refusal ? ["validate"] : []) + (rule.fixable ? ["fixable"] : [])
            out += "\(rule.id.rawValue)  \(rule.severity.rawValue)  (\(flags.joined(separator: ", ")))\n"
            out += "  \(rule.summary)\n"
            out += wrap(rule.rationale, width: 96, indent: "  ") + "\n\n"
        }
        out += "\(rules.count) rules\n"
        return out
    }

    static func wrap(_ text: String, width: Int, indent: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + word.count + 1 > width {
                lines.append(indent + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(indent + line) }
        return lines.joined(separator: "\n")
    }
}
