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
    public var disabled: Set<String> = []
    /// Severity overrides.
    public var severities: [String: Severity] = [:]
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
        func ids(_ node: YNode, _ key: String) throws(LoadError) -> [String] {
            let values = node.items?.compactMap(\.scalar) ?? node.scalar.map { [$0] } ?? []
            for id in values where id != "all" && RuleCatalog.info(id) == nil {
                throw LoadError(message: "\(file):\(node.position.line): unknown rule '\(id)' in '\(key)'")
            }
            return values
        }
        let all = Set(RuleCatalog.all.map(\.id.rawValue))
        for pair in pairs {
            switch pair.key {
            case "disable":
                for id in try ids(pair.value, "disable") { disabled.formUnion(id == "all" ? all : [id]) }
            case "enable":
                for id in try ids(pair.value, "enable") { disabled.subtract(id == "all" ? all : [id]) }
            case "rules":
                for rule in pair.value.pairs ?? [] {
                    guard RuleCatalog.info(rule.key) != nil else {
                        throw LoadError(message: "\(file):\(rule.keyPosition.line): unknown rule '\(rule.key)'")
                    }
                    let value = rule.value.scalar ?? ""
                    if value == "off" || value == "false" {
                        disabled.insert(rule.key)
                    } else if let severity = Severity(rawValue: value) {
                        severities[rule.key] = severity
                        disabled.remove(rule.key)
                    } else {
                        throw LoadError(
                            message:
                                "\(file):\(rule.value.position.line): '\(value)' is not off, info, warning or error")
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
        var fileWide: [String: Set<String>] = [:]
        for (name, source) in sources where source.text.includes("disable-file=") {
            fileWide[name] = Set(source.lines.flatMap { InlineDisables.rules(in: $0, directive: "disable-file") ?? [] })
        }
        return findings.compactMap { finding in
            guard !disabled.contains(finding.rule) else { return nil }
            if let rules = fileWide[finding.position.file], rules.contains(finding.rule) || rules.contains("all") {
                return nil
            }
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
    static func rules(in line: Substring, directive: String) -> [String]? {
        guard let marker = line.firstRange(of: "ampora-lint:") else { return nil }
        let rest = line[marker.upperBound...].trimmingSpaces
        guard rest.hasPrefix(directive + "=") else { return nil }
        return rest.dropFirst(directive.count + 1).split(separator: ",").map {
            String($0.split(separator: " ").first ?? "").trimmingSpaces
        }
    }

    static func suppresses(_ rule: String, line: Int, in source: SourceText) -> Bool {
        func matches(_ rules: [String]?) -> Bool { rules.map { $0.contains(rule) || $0.contains("all") } ?? false }
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
