/// `.ampora-lint.yaml`: which rules run, at what severity, and which files are skipped.
///
/// ```yaml
/// disable: [listen-all-interfaces]      # or [all], then `enable` what you want
/// enable: [plaintext-secret]
/// rules: {unused-component: error, ottl-unquoted: off}
/// ignore: ["vendor/*", "*/testdata/*"]
/// severity-threshold: warning
/// max-config-bytes: 1048576
/// ```
public struct LintPolicy: Sendable {
    /// Rules turned off.
    public var disabled: Set<RuleID> = []
    /// Severity overrides.
    public var severities: [RuleID: Severity] = [:]
    /// Glob patterns of files to skip.
    public var ignore: [String] = []
    /// Threshold from the file (the command line wins).
    public var threshold: Severity?
    /// Message-size limit for `config-too-large`.
    public var maxConfigBytes: Int?

    /// The default: every rule at its default severity.
    public init() {}

    /// Reads a policy file; unknown rule ids are errors so typos do not silently disable nothing.
    public init(yaml text: String, file: String) throws(LoadError) {
        let root: YNode?
        do {
            root = try YAMLReader.documents(text, file: file).first
        } catch {
            throw LoadError(message: "\(file):\(error.position.line): \(error.message)")
        }
        guard let root, !root.isNull else { return }
        guard let pairs = root.pairs else { throw LoadError(message: "\(file): expected a map") }
        func rules(_ node: YNode, _ key: String) throws(LoadError) -> Set<RuleID> {
            var rules: Set<RuleID> = []
            for id in node.items?.compactMap(\.scalar) ?? node.scalar.map({ [$0] }) ?? [] {
                if id == "all" {
                    rules.formUnion(RuleID.allCases)
                } else if let rule = RuleID(rawValue: id) {
                    rules.insert(rule)
                } else {
                    throw LoadError(message: "\(file):\(node.position.line): unknown rule '\(id)' in '\(key)'")
                }
            }
            return rules
        }
        for pair in pairs {
            switch pair.key {
            case "disable":
                disabled.formUnion(try rules(pair.value, "disable"))
            case "enable":
                disabled.subtract(try rules(pair.value, "enable"))
            case "rules":
                for entry in pair.value.pairs ?? [] {
                    guard let rule = RuleID(rawValue: entry.key) else {
                        throw LoadError(message: "\(file):\(entry.keyPosition.line): unknown rule '\(entry.key)'")
                    }
                    let value = entry.value.scalar ?? ""
                    if value == "off" || value == "false" {
                        disabled.insert(rule)
                    } else if let severity = Severity(rawValue: value) {
                        severities[rule] = severity
                        disabled.remove(rule)
                    } else {
                        throw LoadError(
                            message:
                                "\(file):\(entry.value.position.line): '\(value)' is not off, info, warning or error")
                    }
                }
            case "ignore", "ignore-paths":
                ignore = pair.value.items?.compactMap(\.scalar) ?? pair.value.scalar.map { [$0] } ?? []
            case "severity-threshold":
                guard let value = pair.value.scalar, let severity = Severity(rawValue: value) else {
                    throw LoadError(message: "\(file): severity-threshold must be info, warning or error")
                }
                threshold = severity
            case "max-config-bytes":
                guard let value = pair.value.scalar.flatMap({ Int($0) }), value > 0 else {
                    throw LoadError(message: "\(file): max-config-bytes must be a positive integer")
                }
                maxConfigBytes = value
            default:
                throw LoadError(message: "\(file):\(pair.keyPosition.line): unknown setting '\(pair.key)'")
            }
        }
    }

    /// Applies the policy and inline `# ampora-lint: disable=RULE` comments to findings.
    public func apply(_ findings: [Finding], sources: [String: SourceText]) -> [Finding] {
        // File-wide disables are looked up once per file, not once per finding.
        var fileWide: [String: Set<RuleID>] = [:]
        for (name, source) in sources where source.text.includes("disable-file=") {
            fileWide[name] = Set(source.lines.flatMap { InlineDisables.rules(in: $0, directive: "disable-file") ?? [] })
        }
        return findings.compactMap { finding in
            guard !disabled.contains(finding.rule) else { return nil }
            if fileWide[finding.position.file]?.contains(finding.rule) == true { return nil }
            if let source = sources[finding.position.file],
                InlineDisables.suppresses(finding.rule, line: finding.position.line, in: source)
            {
                return nil
            }
            var result = finding
            if let severity = severities[finding.rule] { result.severity = severity }
            return result
        }
    }
}

/// `# ampora-lint: disable=a,b` on the finding's line or alone on the line above
/// (`disable-file=a` anywhere in the file is handled by `LintPolicy.apply`).
enum InlineDisables {
    /// The rules a `directive=` comment on `line` names, nil without one; `all` is every rule, and ids that name no
    /// rule are skipped.
    static func rules(in line: Substring, directive: String) -> Set<RuleID>? {
        guard let marker = line.firstRange(of: "ampora-lint:") else { return nil }
        let rest = line[marker.upperBound...].trimmingSpaces
        guard rest.hasPrefix(directive + "=") else { return nil }
        var rules: Set<RuleID> = []
        for item in rest.dropFirst(directive.count + 1).split(separator: ",") {
            let id = String(item.split(separator: " ").first ?? "").trimmingSpaces
            if id == "all" {
                rules.formUnion(RuleID.allCases)
            } else if let rule = RuleID(rawValue: id) {
                rules.insert(rule)
            }
        }
        return rules
    }

    static func suppresses(_ rule: RuleID, line: Int, in source: SourceText) -> Bool {
        func matches(_ rules: Set<RuleID>?) -> Bool { rules?.contains(rule) ?? false }
        if let text = source.line(line), text.includes("#"), matches(rules(in: text, directive: "disable")) {
            return true
        }
        if let above = source.line(line - 1), above.trimmingSpaces.hasPrefix("#"),
            matches(rules(in: above, directive: "disable"))
        {
            return true
        }
        return false
    }
}
