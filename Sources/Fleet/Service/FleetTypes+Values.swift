// Public initializers for the values the operator plane shows, so that the web UI's rendering
// can be tested (and previewed) with values made by hand rather than a fleet's.

extension AgentPage {
    /// A page of `items`.
    public init(_ items: [AgentSummary], total: Int, nextCursor: String?) {
        self.items = items
        self.total = total
        self.nextCursor = nextCursor
    }
}

extension AgentEvent {
    /// An event.
    public init(_ kind: String, at: Int64, detail: String) {
        self.at = at
        self.kind = kind
        self.detail = detail
    }
}

extension AgentDetail {
    /// An agent with `summary` and nothing reported beyond it.
    public init(
        summary: AgentSummary, owner: String, labels: [String: String] = [:], history: [AgentEvent] = [],
        historyComplete: Bool = true
    ) {
        self.summary = summary
        self.owner = owner
        self.labels = labels
        self.history = history
        self.historyComplete = historyComplete
    }
}

extension ConfigVersion {
    /// A config's current version.
    public init(_ name: String, hash: String, version: Int64, updatedAt: Int64) {
        self.name = name
        self.hash = hash
        self.version = version
        self.updatedAt = updatedAt
    }
}

extension ConfigVersionInfo {
    /// A version as listed.
    public init(
        _ name: String, version: Int64, hash: String, author: String?, message: String?, createdAt: Int64, draft: Bool,
        current: Bool, findings: [ConfigFinding]
    ) {
        self.name = name
        self.version = version
        self.hash = hash
        self.author = author
        self.message = message
        self.createdAt = createdAt
        self.draft = draft
        self.current = current
        self.findings = findings
    }
}

extension AgentGroup {
    /// A group with no members counted.
    public init(name: String, selector: [String: String], description: String, createdAt: Int64, updatedAt: Int64) {
        self.name = name
        self.selector = selector
        self.description = description
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
