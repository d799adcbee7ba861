/// How serious a finding is; ordered so thresholds compare.
public enum Severity: String, Sendable, Hashable, Comparable, CaseIterable {
    case info, warning, error

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One problem found in a config, with the exact place and YAML path.
public struct Finding: Sendable, Hashable {
    /// The rule that reported it.
    public var rule: RuleID
    /// Severity after configuration.
    public var severity: Severity
    /// What is wrong, and what to do when that is not obvious.
    public var message: String
    /// Where.
    public var position: SourcePosition
    /// The YAML path (`service.pipelines.traces/2.processors[0]`); empty for the whole file.
    public var path: String

    /// Creates a finding.
    public init(rule: RuleID, severity: Severity, message: String, position: SourcePosition, path: String) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.position = position
        self.path = path
    }

    /// The deterministic output order: file, line, column, rule, message.
    public static func ordered(_ a: Finding, _ b: Finding) -> Bool {
        // Rules compare by id, not declaration order, so that output stays sorted the way users read it.
        (a.position.file, a.position.line, a.position.column, a.rule.rawValue, a.message, a.path)
            < (b.position.file, b.position.line, b.position.column, b.rule.rawValue, b.message, b.path)
    }
}
