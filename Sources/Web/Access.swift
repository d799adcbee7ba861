import Fleet
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The request context of the operator API: who is asking, from where, under which request id.
public struct OperatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address, as the audit trail records it.
    public var source: String
    /// The authenticated caller (nil on public routes).
    public var principal: OperatorPrincipal?
    /// The request's `X-Request-Id`, the client's or one made up.
    public var requestID = ""

    /// A context for a request on `source`'s channel.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        self.source = source.channel.remoteAddress?.ipAddress ?? ""
    }
}

/// Someone the operator API knows: a personal access token's name and role.
public struct OperatorPrincipal: Sendable, Equatable {
    /// The actor the audit trail names.
    public var name: String
    /// What the caller may do.
    public var role: OperatorRole
}

/// What a route requires, and how the audit trail names what it does.
struct AccessRule: Sendable {
    /// The weakest role allowed; nil for a public route.
    var role: OperatorRole?
    /// The audit trail's action for a change (`rollout.create`); reads are not audited.
    var action: String
}

/// Every route of the operator API with the role it needs: the one place where access is
/// decided. A route the router has and this table lacks is refused to everyone (and fails the
/// route-table test).
enum AccessRules {
    static let table: [String: AccessRule] = {
        let rows: [(String, String, OperatorRole?, String)] = [
            ("GET", "/healthz", nil, ""), ("GET", "/readyz", nil, ""), ("GET", "/api/v1/openapi.json", nil, ""),
            ("GET", "/auth/login", nil, ""), ("GET", "/auth/callback", nil, ""),
            ("POST", "/auth/logout", nil, "logout"),
            ("GET", "/api/v1/whoami", .viewer, ""),
            ("GET", "/api/v1/agents", .viewer, ""), ("GET", "/api/v1/agents/{uid}", .viewer, ""),
            ("GET", "/api/v1/agents/facets", .viewer, ""), ("GET", "/api/v1/server", .viewer, ""),
            ("GET", "/api/v1/instances", .viewer, ""),
            ("GET", "/api/v1/agents/{uid}/effective-config", .viewer, ""),
            ("GET", "/api/v1/agents/{uid}/components", .viewer, ""),
            ("GET", "/api/v1/agents/{uid}/custom-messages", .viewer, ""),
            ("POST", "/api/v1/agents/{uid}/custom-messages", .operator, "agent.custom-message"),
            ("POST", "/api/v1/agents/commands", .operator, "agent.command"),
            ("POST", "/api/v1/agents/{uid}/restart", .operator, "agent.restart"),
            ("POST", "/api/v1/agents/{uid}/report-full-state", .operator, "agent.report-full-state"),
            ("POST", "/api/v1/agents/{uid}/reconcile", .operator, "agent.reconcile"),
            ("POST", "/api/v1/agents/{uid}/disconnect", .operator, "agent.disconnect"),
            ("POST", "/api/v1/agents/{uid}/revoke", .admin, "agent.revoke"),
            ("DELETE", "/api/v1/agents/{uid}/revocation", .admin, "agent.readmit"),
            ("DELETE", "/api/v1/agents/{uid}/identity", .admin, "agent.identity.unbind"),
            ("GET", "/api/v1/configs", .viewer, ""), ("GET", "/api/v1/configs/{name}", .viewer, ""),
            ("PUT", "/api/v1/configs/{name}", .operator, "config.put"),
            ("GET", "/api/v1/configs/{name}/versions", .viewer, ""),
            ("POST", "/api/v1/configs/{name}/versions", .operator, "config.version.create"),
            ("GET", "/api/v1/configs/{name}/versions/{version}", .viewer, ""),
            ("POST", "/api/v1/configs/{name}/versions/{version}/publish", .operator, "config.version.publish"),
            ("GET", "/api/v1/configs/{name}/versions/{version}/diff/{other}", .viewer, ""),
            ("GET", "/api/v1/configs/{name}/versions/{version}/graph.svg", .viewer, ""),
            ("GET", "/api/v1/configs/{name}/versions/{version}/graph.json", .viewer, ""),
            ("POST", "/api/v1/assignments", .operator, "assignment.create"),
            ("GET", "/api/v1/assignments/{id}", .viewer, ""),
            ("GET", "/api/v1/rollouts", .viewer, ""), ("POST", "/api/v1/rollouts", .operator, "rollout.create"),
            ("GET", "/api/v1/rollouts/{id}", .viewer, ""),
            ("POST", "/api/v1/rollouts/{id}/{action}", .operator, "rollout.act"),
            ("GET", "/api/v1/groups", .viewer, ""), ("GET", "/api/v1/groups/{name}", .viewer, ""),
            ("PUT", "/api/v1/groups/{name}", .operator, "group.put"),
            ("DELETE", "/api/v1/groups/{name}", .operator, "group.delete"),
            ("GET", "/api/v1/ca/certificate.pem", .viewer, ""), ("GET", "/api/v1/ca/crl.pem", .viewer, ""),
            ("POST", "/api/v1/tokens", .admin, "enrollment-token.create"),
            ("GET", "/api/v1/tokens", .admin, ""), ("DELETE", "/api/v1/tokens/{id}", .admin, "enrollment-token.revoke"),
            ("GET", "/api/v1/access-tokens", .admin, ""),
            ("POST", "/api/v1/access-tokens", .admin, "access-token.create"),
            ("DELETE", "/api/v1/access-tokens/{id}", .admin, "access-token.revoke"),
            ("GET", "/api/v1/audit", .viewer, ""), ("GET", "/api/v1/events", .viewer, ""),
            ("POST", "/api/v1/lint", .viewer, "config.lint"),
        ]
        // The web UI's pages and assets (Sources/Web/UI) are listed beside their routes.
        let all = rows + OperatorAPI.uiRoutes.map { ($0.method, $0.path, $0.role, $0.action) }
        return Dictionary(uniqueKeysWithValues: all.map { ("\($0.0) \($0.1)", AccessRule(role: $0.2, action: $0.3)) })
    }()

    /// Changes by method but reads by nature (a lint changes nothing): not written to the audit
    /// trail, which an editor linting as its operator types would otherwise flood.
    static let unaudited: Set<String> = ["POST /api/v1/lint"]

    /// The rule for a routed request (`HEAD` is `GET` without a body).
    static func rule(method: HTTPRequest.Method, endpoint: String, protectMetrics: Bool) -> AccessRule? {
        let verb = method == .head ? "GET" : method.rawValue
        if endpoint == "/metrics" && verb == "GET" {
            return AccessRule(role: protectMetrics ? .viewer : nil, action: "")
        }
        return table["\(verb) \(endpoint)"]
    }

    /// The methods a concrete path allows (for a 405's `Allow`), nil when no route has its shape.
    static func allowedMethods(for path: String) -> String? {
        let segments = path.split(separator: "/")
        var methods: [String] = []
        for key in table.keys.sorted() + ["GET /metrics"] {
            let parts = key.split(separator: " ", maxSplits: 1)
            let pattern = parts[1].split(separator: "/")
            guard pattern.count == segments.count,
                zip(pattern, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
            else { continue }
            methods.append(String(parts[0]))
            if parts[0] == "GET" { methods.append("HEAD") }
        }
        let order = ["GET", "HEAD", "POST", "PUT", "DELETE"]
        return methods.isEmpty ? nil : order.filter(methods.contains).joined(separator: ", ")
    }
}

/// Authentication, authorization, request ids and the audit trail, in front of every route.
struct Access: RouterMiddleware {
    typealias Context = OperatorContext

    let fleet: FleetService
    let protectMetrics: Bool
    let throttle: FailureThrottle
    let oidc: OIDCVerifier?
    let sessions: BrowserSessions

    static let requestIDField = HTTPFields.Element.Name("X-Request-Id")!
    static let csrfField = HTTPFields.Element.Name("X-CSRF-Token")!
    static let timingField = HTTPFields.Element.Name("Server-Timing")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let started = ContinuousClock.now
        // A page's form (a change without the script) brings its CSRF token in its body, which
        // is read here and handed on.
        var request = request
        var context = context
        context.requestID = Self.requestID(request)
        let endpoint = context.endpointPath
        let path = request.uri.path
        let rule = endpoint.flatMap {
            AccessRules.rule(method: request.method, endpoint: $0, protectMetrics: protectMetrics)
        }
        var response: Response
        do {
            // Unknown paths under /api/ need a credential too: their 404 says nothing to strangers.
            let needed: OperatorRole? =
                if let rule { rule.role } else if endpoint != nil || path.hasPrefix("/api/") { .viewer } else { nil }
            if let needed {
                let principal = try await authenticate(&request, context: context)
                context.principal = principal
                guard endpoint == nil || rule != nil else {
                    throw APIError(.forbidden, "forbidden", "this route has no access rule")
                }
                guard principal.role.allows(needed) else {
                    throw APIError(
                        .forbidden, "forbidden",
                        "the \(principal.role.rawValue) role may not do this; it needs \(needed.rawValue)")
                }
            }
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // A person asking for a page is sent to sign in, or shown why not, instead of JSON.
            if let page = OperatorAPI.pageRefusal(
                error, request: request, endpoint: endpoint, principal: context.principal)
            {
                response = page
            } else {
                response = try error.response(from: request, context: context)
            }
        }
        response.headers[Self.requestIDField] = context.requestID
        // The server's own time for the answer (W3C Server-Timing), before the body is written.
        let spent = ContinuousClock.now - started
        let milliseconds = Double(spent.components.seconds) * 1000 + Double(spent.components.attoseconds) / 1e15
        response.headers[Self.timingField] = "app;dur=" + String(format: "%.1f", milliseconds)
        audit(request, response: response, context: context, rule: rule)
        return response
    }

    private func authenticate(_ request: inout Request, context: Context) async throws -> OperatorPrincipal {
        let header = request.headers[.authorization] ?? ""
        if header.isEmpty, let id = BrowserSessions.cookies(request.headers[.cookie])[BrowserSessions.sessionCookie] {
            return try await session(id, request: &request, context: context)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw await refuse(
                context: context, code: "unauthenticated",
                message: "send Authorization: Bearer TOKEN (create one with `ampora token create --role viewer`)",
                challenge: "Bearer realm=\"ampora\"", counted: !header.isEmpty)
        }
        let token = String(parts[1]).trimmingCharacters(in: .whitespaces)
        if let oidc, token.split(separator: ".", omittingEmptySubsequences: false).count == 3 {
            return try await bearerJWT(token, oidc: oidc, context: context)
        }
        let why: String
        switch fleet.authenticate(token: token) {
        case .accepted(let info): return OperatorPrincipal(name: info.name, role: info.role)
        case .unknown: why = "the token is not known"
        case .expired: why = "the token has expired"
        case .revoked: why = "the token was revoked"
        }
        throw await refuse(
            context: context, code: "invalid_token", message: why,
            challenge: "Bearer realm=\"ampora\", error=\"invalid_token\", error_description=\"\(why)\"", counted: true)
    }

    /// A JWT of the OIDC provider: verified, and its role claim mapped to a role.
    private func bearerJWT(_ token: String, oidc: OIDCVerifier, context: Context) async throws -> OperatorPrincipal {
        let why: String
        do {
            let (claims, payload) = try await oidc.verify(token, audience: oidc.settings.audience)
            if let principal = oidc.principal(claims, payload) { return principal }
            throw APIError(
                .forbidden, "no_role",
                "\(claims.sub.value) has no Ampora role: its \(oidc.settings.roleClaim) claim matches no --oidc-role")
        } catch let refusal as OIDCRefusal {
            why = refusal.description
        }
        throw await refuse(
            context: context, code: "invalid_token", message: why,
            challenge: "Bearer realm=\"ampora\", error=\"invalid_token\", error_description=\"\(why)\"", counted: true)
    }

    /// A browser session: changes must carry its CSRF token, which another site cannot read:
    /// as `X-CSRF-Token` from the page's script, or as the `csrf` field of a page's form.
    private func session(_ id: String, request: inout Request, context: Context) async throws -> OperatorPrincipal {
        guard let session = sessions.find(id), tokenIsLive(session.tokenID) else {
            sessions.close(id)
            throw await refuse(
                context: context, code: "session_expired",
                message: "the session has ended: sign in again at /login",
                challenge: "Bearer realm=\"ampora\"", counted: true)
        }
        if request.method != .get && request.method != .head && request.headers[Self.csrfField] != session.csrf,
            await Self.formCSRF(&request, endpoint: context.endpointPath) != session.csrf
        {
            throw APIError(.forbidden, "csrf_failed", "a change from a browser session needs its X-CSRF-Token")
        }
        return session.principal
    }

    /// The `csrf` field of a form posted to one of the UI's form routes; the body stays
    /// readable for the route. Nil for any other request.
    private static func formCSRF(_ request: inout Request, endpoint: String?) async -> String? {
        guard let endpoint, OperatorAPI.uiFormRouteKeys.contains("\(request.method.rawValue) \(endpoint)"),
            request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true,
            let body = try? await request.collectBody(upTo: OperatorAPI.maxFormBytes)
        else { return nil }
        return OperatorAPI.form(Array(buffer: body))["csrf"]
    }

    /// Whether the token a session was made with (if any) is still neither revoked nor expired.
    private func tokenIsLive(_ id: String?) -> Bool {
        guard let id else { return true }
        guard let token = fleet.accessTokens().first(where: { $0.id == id }), token.revokedAt == nil else {
            return false
        }
        return token.expiresAt.map { $0 > fleet.options.clock() } ?? true
    }

    /// A 401, after a delay that grows with the caller's recent failures; the refusal is audited.
    private func refuse(context: Context, code: String, message: String, challenge: String, counted: Bool) async
        -> APIError
    {
        if counted {
            let delay = throttle.failed(context.source)
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
        }
        var error = APIError(.unauthorized, code, message)
        error.challenge = challenge
        return error
    }

    private func audit(_ request: Request, response: Response, context: Context, rule: AccessRule?) {
        let status = Int(response.status.code)
        let read = request.method == .get || request.method == .head
        let action: String
        if status == 401 && request.uri.path.hasPrefix("/auth/") {
            return  // the login routes audit their own outcome
        } else if status == 401 {
            action = "login"
        } else if read
            || !(request.uri.path.hasPrefix("/api/")
                || OperatorAPI.uiFormRouteKeys.contains("\(request.method.rawValue) \(context.endpointPath ?? "")"))
        {
            return
        } else if let endpoint = context.endpointPath,
            AccessRules.unaudited.contains("\(request.method.rawValue) \(endpoint)"), status != 403
        {
            return
        } else {
            action = rule.map(\.action) ?? "\(request.method.rawValue) \(request.uri.path)"
        }
        let outcome = status < 400 ? "ok" : (status == 401 || status == 403 ? "denied" : "failed")
        fleet.record(
            audit: AuditEntry(
                at: fleet.options.clock(), actor: context.principal?.name ?? "anonymous",
                role: context.principal?.role.rawValue ?? "", action: action, target: request.uri.path,
                before: request.headers[.ifMatch], after: response.headers[.eTag], requestID: context.requestID,
                source: context.source, outcome: outcome, status: status,
                detail: status == 401 ? "\(request.method.rawValue) refused: bad or missing credential" : ""))
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    /// The client's `X-Request-Id` when it is a sane token, else a new one.
    static func requestID(_ request: Request) -> String {
        if let given = request.headers[requestIDField], (1...128).contains(given.utf8.count),
            given.utf8.allSatisfy(isTokenByte)
        {
            return given
        }
        var random = SystemRandomNumberGenerator()
        return (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
    }
}

/// Slows down an address that keeps presenting bad credentials: after a few failures in a
/// minute, each further one waits twice as long as the one before, up to five seconds.
final class FailureThrottle: Sendable {
    private struct Entry {
        var failures: Int
        var windowStart: ContinuousClock.Instant
    }

    /// Failures within a window that cost nothing.
    static let free = 5
    private let entries = Mutex<[String: Entry]>([:])

    init() {}

    /// Counts a failure from `source`; returns the milliseconds to wait before answering.
    func failed(_ source: String) -> Int {
        let now = ContinuousClock.now
        return entries.withLock { map in
            // Addresses are forgotten a minute after their first failure; the map stays small
            // unless many addresses fail at once, and then it is cleared of old entries.
            if map.count > 10_000 { map = map.filter { now - $0.value.windowStart < .seconds(60) } }
            var entry = map[source] ?? Entry(failures: 0, windowStart: now)
            if now - entry.windowStart >= .seconds(60) { entry = Entry(failures: 0, windowStart: now) }
            entry.failures += 1
            map[source] = entry
            let over = entry.failures - Self.free
            return over <= 0 ? 0 : min(5000, 50 << min(over, 10))
        }
    }
}

extension OperatorContext {
    /// Who the audit trail and config versions name as the author of a change.
    var actor: String { principal?.name ?? "anonymous" }
}
