import Fleet
import Foundation
import Hummingbird

extension OperatorAPI {
    /// Registers who-am-I, the personal access tokens and the audit trail.
    func addAccessRoutes(to router: Router<OperatorContext>) {
        router.get("/api/v1/whoami") { _, context in
            Self.json(["name": context.actor, "role": context.principal.map { $0.role.rawValue as Any } ?? NSNull()])
        }
        router.get("/api/v1/access-tokens") { _, _ in
            Self.list(fleet.accessTokens().map(Self.accessTokenJSON))
        }
        router.post("/api/v1/access-tokens") { request, context in
            try await createAccessToken(request, by: context.actor)
        }
        router.delete("/api/v1/access-tokens/:id") { _, context in
            try await revokeAccessToken(context.parameters.get("id") ?? "")
        }
        router.get("/api/v1/audit") { request, _ in try await auditPage(request) }
    }

    /// `POST /api/v1/access-tokens` `{"role", "name", "expiresInSeconds"}`: 201 with the token,
    /// which is never shown again.
    /// `DELETE /api/v1/access-tokens/{id}` (and the tokens page's form): 204, or 404.
    func revokeAccessToken(_ id: String) async throws -> Response {
        let fleet = fleet
        let done = await Self.offExecutor {
            Result { () throws(StoreError) in try fleet.revokeAccessToken(id: id) }
        }
        switch done {
        case .success(true): return Response(status: .noContent)
        case .success(false): throw APIError(.notFound, "token_not_found", "no live token has the id \(id)")
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the token was not revoked: \(error)")
        }
    }

    private func createAccessToken(_ request: Request, by creator: String) async throws -> Response {
        let body = try await Self.body(request, limit: 64 << 10, OperatorRequest.accessToken)
        let fleet = fleet
        let made = await Self.offExecutor {
            Result { () throws(StoreError) in
                try fleet.createAccessToken(
                    role: body.role, name: body.name, expiresAfterMilliseconds: body.expiresAfterMilliseconds,
                    createdBy: creator)
            }
        }
        switch made {
        case .success(let (token, info)):
            var body = Self.accessTokenJSON(info)
            body["token"] = token
            var response = Self.json(body, status: .created)
            response.headers[.location] = "/api/v1/access-tokens/\(info.id)"
            return response
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the token was not stored: \(error)")
        }
    }

    /// `GET /api/v1/audit?actor=&action=&target=&outcome=&since=&until=&limit=&cursor=`.
    private func auditPage(_ request: Request) async throws -> Response {
        var query = AuditQuery()
        for (key, value) in request.uri.queryParameters {
            let text = String(value)
            switch String(key) {
            case "actor": query.actor = text
            case "action": query.action = text
            case "target": query.target = text
            case "outcome": query.outcome = text
            case "since": query.since = try Self.time(text, "since")
            case "until": query.until = try Self.time(text, "until")
            case "limit":
                guard let n = Int(text), (1...1000).contains(n) else {
                    throw APIError(.badRequest, "invalid_parameter", "limit must be an integer from 1 to 1000")
                }
                query.limit = n
            case "cursor":
                guard let id = Int64(text), id > 0 else {
                    throw APIError(.badRequest, "invalid_parameter", "cursor is not one this API returned")
                }
                query.cursor = id
            default:
                throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(key)")
            }
        }
        let fleet = fleet
        let chosen = query
        let page = await Self.offExecutor { Result { () throws(StoreError) in try fleet.auditPage(chosen) } }
        switch page {
        case .success(let page):
            return Self.json([
                "items": page.items.map(Self.auditJSON), "total": page.total,
                "nextCursor": page.nextCursor.map { String($0) as Any } ?? NSNull(),
            ])
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the audit trail cannot be read: \(error)")
        }
    }

    /// An RFC 3339 time (`2026-12-05T10:00:00Z`, fractions allowed) in milliseconds.
    static func time(_ text: String, _ name: String) throws -> Int64 {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) ?? plain.date(from: text) else {
            throw APIError(
                .badRequest, "invalid_parameter", "\(name) must be an RFC 3339 time such as 2026-12-05T10:00:00Z")
        }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func accessTokenJSON(_ t: OperatorToken) -> [String: Any] {
        func time(_ ms: Int64?) -> Any { ms.map { rfc3339($0) as Any } ?? NSNull() }
        return [
            "id": t.id, "name": t.name, "role": t.role.rawValue, "prefix": t.prefix, "createdBy": t.createdBy,
            "createdAt": rfc3339(t.createdAt), "expiresAt": time(t.expiresAt), "lastUsedAt": time(t.lastUsedAt),
            "revokedAt": time(t.revokedAt),
        ]
    }

    static func auditJSON(_ e: AuditEntry) -> [String: Any] {
        [
            "id": String(e.id), "time": rfc3339(e.at), "actor": e.actor, "role": e.role, "action": e.action,
            "target": e.target, "before": e.before.map { $0 as Any } ?? NSNull(),
            "after": e.after.map { $0 as Any } ?? NSNull(), "requestId": e.requestID, "source": e.source,
            "outcome": e.outcome, "status": e.status, "detail": e.detail,
        ]
    }
}
