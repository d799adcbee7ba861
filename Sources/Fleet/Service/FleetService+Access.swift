import Foundation

// The operator plane's credentials and its audit trail. Requests are authenticated against
// tokens held in memory; everything that changes state is appended to the audit log.
extension FleetService {
    /// Checks a bearer token presented to the operator API.
    public func authenticate(token: String) -> OperatorAuthentication {
        operatorTokens.authenticate(token)
    }

    /// A new personal access token: the token (shown once) and what is listed about it.
    public func createAccessToken(
        role: OperatorRole, name: String, expiresAfterMilliseconds: Int64?, createdBy: String
    ) throws(StoreError) -> (token: String, info: OperatorToken) {
        let made = try operatorTokens.create(
            role: role, name: name, expiresAfterMilliseconds: expiresAfterMilliseconds, createdBy: createdBy)
        forward(.tokens, to: "*")
        return made
    }

    /// Accepts an operator-chosen admin token (`--admin-token-file`).
    public func registerAdminToken(_ token: String, name: String) throws(StoreError) {
        try operatorTokens.register(token: token, role: .admin, name: name)
    }

    /// Whether no operator token exists yet (a first start).
    public var hasNoAccessTokens: Bool { operatorTokens.isEmpty }

    /// Every personal access token, newest first (never the tokens themselves).
    public func accessTokens() -> [OperatorToken] { operatorTokens.list() }

    /// Revokes a personal access token at once; false when no live token has this id.
    public func revokeAccessToken(id: String) throws(StoreError) -> Bool {
        guard try operatorTokens.revoke(id: id) else { return false }
        forward(.tokens, to: "*")
        return true
    }

    /// Appends to the audit trail (written off the caller's thread).
    public func record(audit entry: AuditEntry) { audit.append(entry) }

    /// A page of the audit trail, newest first.
    public func auditPage(_ query: AuditQuery) throws(StoreError) -> AuditPage {
        try audit.page(query)
    }

    /// Applies `--audit-retention`.
    func pruneAudit() {
        guard options.auditRetentionMilliseconds > 0 else { return }
        let removed = audit.prune(before: options.clock() - options.auditRetentionMilliseconds)
        if removed > 0 { options.log("fleet: \(removed) audit entries older than the retention period deleted") }
    }
}
