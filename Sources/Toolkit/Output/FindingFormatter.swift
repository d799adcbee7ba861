/// Output formats for findings.
public enum FindingFormat: String, Sendable, CaseIterable {
    case text, json, sarif, github
}

/// Renders findings; every format lists findings in the order given (callers sort them).
public enum FindingFormatter {
    /// Renders `findings` from `fileCount` files.
    public static func render(
        _ findings: [Finding], format: FindingFormat, fileCount: Int, sources: [String: SourceText],
        color: Bool = false
    ) -> String {
        switch format {
        case .text: return text(findings, fileCount: fileCount, sources: sources, color: color)
        case .json: return json(findings, fileCount: fileCount)
        case .sarif: return sarif(findings)
        case .github: return github(findings)
        }
    }

    /// `file:line:col: severity[rule] message`, the source line, and a caret under the column.
    public static func text(_ findings: [Finding], fileCount: Int, sources: [String: SourceText], color: Bool) -> String
    {
        var out = ""
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        for finding in findings {
            let p = finding.position
            let severity: String
            switch finding.severity {
            case .error: severity = paint("error", "1;31")
            case .warning: severity = paint("warning", "1;33")
            case .info: severity = paint("info", "1;36")
            }
            out += "\(p.file):\(p.line):\(p.column): \(severity)[\(finding.rule.rawValue)] \(finding.message)"
            if !finding.path.isEmpty { out += " (at \(finding.path))" }
            out += "\n"
            if let line = sources[p.file]?.line(p.line) {
                let number = String(p.line)
                let gutter = String(repeating: " ", count: number.count)
                let (shown, caretColumn) = excerpt(line.replacingTabs, column: p.column)
                out += " \(number) | \(shown)\n"
                out += " \(gutter) | \(String(repeating: " ", count: caretColumn))\(paint("^", "1;32"))\n"
            }
        }
        let counts = Severity.allCases.reversed().map { severity in
            (severity, findings.filter { $0.severity == severity }.count)
        }
        let summary = counts.map { "\($0.1) \($0.0.rawValue)\($0.1 == 1 ? "" : "s")" }.joined(separator: ", ")
        out += "\(fileCount) file\(fileCount == 1 ? "" : "s") checked: \(summary)\n"
        return out
    }

    /// The line, cut to a window around the column when it is long (minified or generated YAML), and the caret offset.
    static func excerpt(_ line: String, column: Int, width: Int = 120) -> (String, Int) {
        let scalars = Array(line.unicodeScalars)
        let caret = max(0, min(column - 1, scalars.count))
        guard scalars.count > width else { return (line, caret) }
        let start = max(0, min(caret - width / 2, scalars.count - width))
        let end = min(scalars.count, start + width)
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        let prefix = start > 0 ? "…" : ""
        let suffix = end < scalars.count ? "…" : ""
        return (prefix + String(view) + suffix, caret - start + (start > 0 ? 1 : 0))
    }

    /// The JSON contract: `{"files": N, "findings": [{rule, severity, message, file, line, column, path}]}`.
    public static func json(_ findings: [Finding], fileCount: Int) -> String {
        let items = findings.map { finding in
            JSONText.object([
                ("rule", JSONText.string(finding.rule.rawValue)),
                ("severity", JSONText.string(finding.severity.rawValue)),
                ("message", JSONText.string(finding.message)),
                ("file", JSONText.string(finding.position.file)),
                ("line", String(finding.position.line)),
                ("column", String(finding.position.column)),
                ("path", JSONText.string(finding.path)),
            ])
        }
        if items.isEmpty { return "{\"files\": \(fileCount), \"findings\": []}\n" }
        return "{\"files\": \(fileCount), \"findings\": [\n  " + items.joined(separator: ",\n  ") + "\n]}\n"
    }

    static func sarifLevel(_ severity: Severity) -> String {
        switch severity {
        case .error: return "error"
        case .warning: return "warning"
        case .info: return "note"
        }
    }

    /// SARIF 2.1.0 with every rule in the driver, so code scanning can show rationales.
    public static func sarif(_ findings: [Finding]) -> String {
        let rules = RuleCatalog.all
        let index = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        let ruleObjects = rules.map { rule in
            JSONText.object([
                ("id", JSONText.string(rule.id.rawValue)),
                ("shortDescription", JSONText.object([("text", JSONText.string(rule.summary))])),
                ("fullDescription", JSONText.object([("text", JSONText.string(rule.rationale))])),
                ("defaultConfiguration", JSONText.object([("level", JSONText.string(sarifLevel(rule.severity)))])),
                ("properties", JSONText.object([("category", JSONText.string(rule.category.rawValue))])),
            ])
        }
        let results = findings.map { finding in
            // The driver lists every rule, so every result has an index.
            var members: [(String, String)] = [
                ("ruleId", JSONText.string(finding.rule.rawValue)), ("ruleIndex", String(index[finding.rule]!)),
            ]
            members += [
                ("level", JSONText.string(sarifLevel(finding.severity))),
                ("message", JSONText.object([("text", JSONText.string(finding.message))])),
                (
                    "locations",
                    JSONText.array([
                        JSONText.object([
                            (
                                "physicalLocation",
                                JSONText.object([
                                    (
                                        "artifactLocation",
                                        JSONText.object([("uri", JSONText.string(sarifURI(finding.position.file)))])
                                    ),
                                    (
                                        "region",
                                        JSONText.object([
                                            ("startLine", String(finding.position.line)),
                                            ("startColumn", String(finding.position.column)),
                                        ])
                                    ),
                                ])
                            ),
                            (
                                "logicalLocations",
                                JSONText.array([
                                    JSONText.object([("fullyQualifiedName", JSONText.string(finding.path))])
                                ])
                            ),
                        ])
                    ])
                ),
            ]
            return JSONText.object(members)
        }
        let driver = JSONText.object([
            ("name", JSONText.string("ampora-tool")),
            ("rules", "[\n        " + ruleObjects.joined(separator: ",\n        ") + "\n      ]"),
        ])
        return """
            {
              "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
              "version": "2.1.0",
              "runs": [{
                "tool": {"driver": \(driver)},
                "results": [\(results.isEmpty ? "" : "\n    " + results.joined(separator: ",\n    ") + "\n  ")]
              }]
            }

            """
    }

    static func sarifURI(_ file: String) -> String {
        var path = file.hasPrefix("./") ? String(file.dropFirst(2)) : file
        path = path.replacing("%", with: "%25").replacing(" ", with: "%20")
        return path == "-" ? "stdin" : path
    }

    /// GitHub Actions workflow commands (`::error file=…,line=…::message`).
    public static func github(_ findings: [Finding]) -> String {
        func escapeData(_ s: String) -> String {
            s.replacing("%", with: "%25").replacing("\r", with: "%0D")
                .replacing("\n", with: "%0A")
        }
        func escapeProperty(_ s: String) -> String {
            escapeData(s).replacing(":", with: "%3A").replacing(",", with: "%2C")
        }
        return findings.map { finding in
            let command: String
            switch finding.severity {
            case .error: command = "error"
            case .warning: command = "warning"
            case .info: command = "notice"
            }
            let p = finding.position
            let message = finding.path.isEmpty ? finding.message : "\(finding.message) (at \(finding.path))"
            return
                "::\(command) file=\(escapeProperty(p.file)),line=\(p.line),col=\(p.column),title=\(escapeProperty(finding.rule.rawValue))::\(escapeData(message))\n"
        }.joined()
    }
}

extension Substring {
    var replacingTabs: String { String(self).replacing("\t", with: " ") }
}
