/// Which family a rule belongs to.
public enum RuleCategory: String, Sendable, Hashable, CaseIterable {
    case structure, references, registry, hygiene, security

    /// True for the families whose rules are, by default, refusals (see `RuleInfo.refusal`).
    public var isValidation: Bool { self == .structure || self == .references }
}

/// A rule's fixed facts: stable id, default severity and why it exists.
public struct RuleInfo: Sendable, Hashable {
    /// The rule these facts describe.
    public var id: RuleID
    /// Default severity.
    public var severity: Severity
    /// Family.
    public var category: RuleCategory
    /// One line: what the rule reports.
    public var summary: String
    /// One paragraph: why it matters.
    public var rationale: String
    /// True when `ampora-tool fix` can repair it.
    public var fixable: Bool
    /// True when the Collector itself refuses a config with this finding (at load, validation or start-up):
    /// these are the rules `ampora-tool validate` runs.
    public var refusal: Bool

    init(
        _ id: RuleID, _ severity: Severity, _ category: RuleCategory, _ summary: String, fixable: Bool = false,
        refusal: Bool? = nil, _ rationale: String
    ) {
        self.id = id
        self.severity = severity
        self.category = category
        self.summary = summary
        self.rationale = rationale
        self.fixable = fixable
        self.refusal = refusal ?? category.isValidation
    }
}
