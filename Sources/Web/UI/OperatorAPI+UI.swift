import Core
import Fleet
import Foundation
import Hummingbird
import NIOCore

// The web UI: server-rendered pages on the operator port, reading Fleet's services as the
// REST handlers do; changes go through the REST API from the pages' script, so that access
// rules, validation and the audit trail are the API's own.
extension OperatorAPI {
    /// The UI's routes with the role each needs (their `AccessRules` rows), and which are pages
    /// (HTML for people, not documented in openapi.json).
    static let uiRoutes: [(method: String, path: String, role: OperatorRole?, action: String)] = [
        ("GET", "/ui/app.css", nil, ""), ("GET", "/ui/app.js", nil, ""),
        ("GET", "/login", nil, ""), ("POST", "/login", nil, "login"),
        ("GET", "/", .viewer, ""), ("GET", "/agents", .viewer, ""), ("GET", "/agents/{uid}", .viewer, ""),
        ("GET", "/configs", .viewer, ""), ("GET", "/configs/{name}", .viewer, ""),
        ("GET", "/rollouts", .viewer, ""), ("GET", "/rollouts/{id}", .viewer, ""),
        ("GET", "/groups", .viewer, ""), ("GET", "/audit", .viewer, ""), ("GET", "/tokens", .admin, ""),
        ("GET", "/enrollment", .admin, ""),
        // Forms of the pages, which work without the script: each is the REST route of the
        // same change (with its role and audit action), at `PAGE/ACTION`.
        ("POST", "/agents/{uid}/restart", .operator, "agent.restart"),
        ("POST", "/agents/{uid}/reconcile", .operator, "agent.reconcile"),
        ("POST", "/agents/{uid}/disconnect", .operator, "agent.disconnect"),
        ("POST", "/agents/{uid}/revoke", .admin, "agent.revoke"),
        ("POST", "/agents/{uid}/readmit", .admin, "agent.readmit"),
        ("POST", "/agents/{uid}/custom-messages", .operator, "agent.custom-message"),
        ("POST", "/rollouts/{id}/{action}", .operator, "rollout.act"),
        ("POST", "/groups/{name}/delete", .operator, "group.delete"),
        ("POST", "/tokens/{id}/revoke", .admin, "access-token.revoke"),
        ("POST", "/enrollment/create", .admin, "enrollment-token.create"),
        ("POST", "/enrollment/{id}/revoke", .admin, "enrollment-token.revoke"),
    ]

    /// `"GET /agents/{uid}"` for each UI route.
    static let uiRouteKeys: Set<String> = Set(uiRoutes.map { "\($0.method) \($0.path)" })

    /// `"POST /agents/{uid}/restart"` for each form route of a page (not the sign-in form).
    static let uiFormRouteKeys: Set<String> = Set(
        uiRoutes.filter { $0.method == "POST" && $0.role != nil }.map { "\($0.method) \($0.path)" })

    /// The largest form body a page posts (a custom message's data is the largest field).
    static let maxFormBytes = 1 << 20

    func addUIRoutes(to router: Router<OperatorContext>) {
        router.get("/ui/app.css") { _, _ in Self.asset(PackageResources.app_css, type: "text/css; charset=utf-8") }
        router.get("/ui/app.js") { _, _ in
            Self.asset(PackageResources.app_js, type: "text/javascript; charset=utf-8")
        }
        router.get("/login") { request, _ in loginForm(request) }
        router.post("/login") { request, context in try await signIn(request, context: context) }
        router.get("/") { request, context in Self.html(UI.overviewPage(overview(), viewer: viewer(request, context))) }
        router.get("/agents") { request, context in agentsPage(request, viewer: viewer(request, context)) }
        router.get("/agents/:uid") { request, context in
            try await agentPage(context.parameters.get("uid") ?? "", viewer: viewer(request, context))
        }
        addUIConfigRoutes(to: router)
        addUIRolloutRoutes(to: router)
        addUIFormRoutes(to: router)
        addUIEnrollmentRoutes(to: router)
    }

    // MARK: Sign-in

    /// The path to go to after signing in: only a path on this server, never an open redirect.
    static func safeNext(_ raw: String?) -> String {
        guard let raw, raw.hasPrefix("/"), !raw.hasPrefix("//"), !raw.contains("\\"), !raw.hasPrefix("/login") else {
            return "/"
        }
        return raw
    }

    private func loginForm(_ request: Request) -> Response {
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        if let id = BrowserSessions.cookies(request.headers[.cookie])[BrowserSessions.sessionCookie],
            sessions.find(id) != nil
        {
            return Self.redirect(next)
        }
        let expired = request.uri.queryParameters["expired"] != nil
        return Self.html(
            UI.loginPage(
                next: next, error: expired ? "Your session has ended. Sign in again." : nil, oidc: oidc != nil))
    }

    /// `POST /login` with `token` (a personal access token) and `next`: checked as the `Access`
    /// middleware checks a bearer token, then a session made as an OIDC login makes one.
    private func signIn(_ request: Request, context: OperatorContext) async throws -> Response {
        // Another site must not sign a browser in with a token of its choosing (login CSRF):
        // browsers say where a form was posted from.
        if let origin = request.headers[.origin], let authority = request.head.authority,
            URLComponents(string: origin).map({ "\($0.host ?? "")\($0.port.map { ":\($0)" } ?? "")" }) != authority
        {
            throw APIError(.forbidden, "cross_site_login", "sign in from this server's own page")
        }
        let body = try await Self.collect(request, limit: 16 << 10)
        let form = Self.form(body)
        let next = Self.safeNext(form["next"])
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let why: String
        switch fleet.authenticate(token: token) {
        case .accepted(let info):
            let principal = OperatorPrincipal(name: info.name, role: info.role)
            var until = ContinuousClock.now + sessions.lifetime
            if let expires = info.expiresAt {
                let left = expires - Int64(Date().timeIntervalSince1970 * 1000)
                until = min(until, .now + .milliseconds(max(0, left)))
            }
            let (id, csrf) = sessions.open(principal, until: until, tokenID: info.id)
            fleet.record(
                audit: AuditEntry(
                    at: fleet.options.clock(), actor: principal.name, role: principal.role.rawValue, action: "login",
                    target: "/login", requestID: context.requestID, source: context.source, outcome: "ok", status: 303,
                    detail: "access token login"))
            var response = Self.redirect(next)
            setSessionCookies(id: id, csrf: csrf, on: &response)
            return response
        case .unknown: why = token.isEmpty ? "Enter a token." : "That token is not known."
        case .expired: why = "That token has expired."
        case .revoked: why = "That token was revoked."
        }
        // As slow as the middleware's refusals, so that the form is no faster to guess with.
        let delay = throttle.failed(context.source)
        if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
        fleet.record(
            audit: AuditEntry(
                at: fleet.options.clock(), actor: "anonymous", role: "", action: "login", target: "/login",
                requestID: context.requestID, source: context.source, outcome: "denied", status: 422,
                detail: "access token login refused: \(why)"))
        // 422, not 401: the form was understood and its token refused; 401 is for requests that
        // lack a credential (and public routes never answer it).
        return Self.html(UI.loginPage(next: next, error: why, oidc: oidc != nil), status: .unprocessableContent)
    }

    /// The fields of an `application/x-www-form-urlencoded` body.
    static func form(_ body: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    // MARK: Pages

    /// Who is looking: the authenticated principal, their session's CSRF token, and the change
    /// a form of the page just made (`done=ACTION`, which a form's redirect adds).
    func viewer(_ request: Request, _ context: OperatorContext) -> UI.Viewer {
        let principal = context.principal ?? OperatorPrincipal(name: "anonymous", role: .viewer)
        var viewer = UI.Viewer(name: principal.name, role: principal.role)
        viewer.done = request.uri.queryParameters["done"].flatMap { UI.doneNotices[String($0)] }
        if let id = BrowserSessions.cookies(request.headers[.cookie])[BrowserSessions.sessionCookie],
            let session = sessions.find(id)
        {
            viewer.csrf = session.csrf
        }
        return viewer
    }

    private func overview() -> UI.Overview {
        let m = fleet.metrics
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return UI.Overview(
            facets: fleet.agentFacets(), version: identity.version, instance: identity.instance,
            engine: identity.engine(), uptimeSeconds: max(0, (now - identity.startedAt) / 1000), ready: isReady(),
            databaseBackend: fleet.backend, databaseHealthy: m.storeHealthy,
            backlogRows: m.backlogAgents + m.backlogTouches + m.backlogHistory, rollouts: fleet.listRollouts())
    }

    private func agentsPage(_ request: Request, viewer: UI.Viewer) -> Response {
        var filter = UI.AgentFilter()
        var problems: [String] = []
        var query = AgentQuery()
        let parameters = request.uri.queryParameters
        func flag(_ name: String) -> Bool? {
            switch parameters[Substring(name)].map(String.init) {
            case "true": true
            case "false": false
            default: nil
            }
        }
        filter.search = String((parameters["search"].map(String.init) ?? "").prefix(256))
        filter.connected = flag("connected")
        filter.healthy = flag("healthy")
        filter.configState = parameters["configState"].flatMap { ConfigState(rawValue: String($0)) }
        filter.attributes = parameters["attributes"].map(String.init) ?? ""
        filter.group = parameters["group"].map(String.init) ?? ""
        if let limit = parameters["limit"].flatMap({ Int(String($0)) }), [25, 50, 100, 200].contains(limit) {
            filter.limit = limit
        }
        if let text = parameters["sort"].map(String.init) {
            if AgentSort(text) != nil { filter.sort = text } else { problems.append("Unknown order \(text).") }
        }
        let sort = AgentSort(filter.sort) ?? .uid
        // A cursor names a place in one order: a uid, or `KEY_UID` in the others.
        if let cursor = parameters["cursor"].map(String.init), AgentCursor(cursor, sort: sort) != nil {
            filter.cursor = cursor
        }
        var columns: [String] = parameters.getAll("column").map { String($0) }
        if let listed = parameters["columns"] {
            columns += String(listed).split(separator: ",").map { String($0) }
        }
        let known = Set(UI.AgentColumn.all.map(\.key))
        if !columns.isEmpty { filter.columns = columns.filter(known.contains) }
        // `attr.KEY=VALUE`, as the REST API spells a filter, is accepted too.
        var pairs = filter.attributePairs ?? [:]
        if filter.attributePairs == nil { problems.append("Attributes must be written as key=value, key=value.") }
        for (key, value) in parameters where key.hasPrefix("attr.") && key.count > 5 {
            pairs[String(key.dropFirst(5))] = String(value)
        }
        // Group names and selectors only: counting members would scan the inventory on every page.
        let groups = fleet.groupSelectors()
        if !filter.group.isEmpty {
            if groups.contains(where: { $0.name == filter.group }) {
                query.group = filter.group
            } else {
                problems.append("There is no group named \(filter.group).")
            }
        }
        // `label:KEY=VALUE`, as selectors name labels, filters on the agent's labels.
        for (key, value) in pairs {
            if key.hasPrefix("label:") {
                query.labels[String(key.dropFirst(6))] = value
            } else {
                query.attributes[key] = value
            }
        }
        query.sort = sort
        query.search = filter.search.isEmpty ? nil : filter.search
        query.connected = filter.connected
        query.healthy = filter.healthy
        query.configState = filter.configState
        query.limit = filter.limit
        query.cursor = filter.cursor
        let page = fleet.agents(query)
        return Self.html(
            UI.agentsPage(
                page, filter: filter, groups: groups.map(\.name),
                problem: problems.isEmpty ? nil : problems.joined(separator: " "), viewer: viewer))
    }

    private func agentPage(_ text: String, viewer: UI.Viewer) async throws -> Response {
        guard let uid = InstanceUID(string: text) else {
            throw APIError(.notFound, "invalid_uid", "\(text) is not an agent's instance UID")
        }
        let fleet = fleet
        guard let detail = await Self.offExecutor({ fleet.agent(uid) }) else {
            throw APIError(.notFound, "agent_not_found", "There is no agent \(uid).")
        }
        var graph: (String, Int64)?
        if let desired = detail.summary.desiredConfigHash ?? detail.summary.effectiveConfigHash,
            let config = fleet.listConfigs().first(where: { $0.hash == desired })
        {
            graph = (config.name, config.version)
        }
        var reports = UI.AgentReports(messages: fleet.receivedCustomMessages(of: uid) ?? [])
        switch await Self.offExecutor({ Result { () throws(FleetError) in try fleet.availableComponents(of: uid) } }) {
        case .success(let (_, json)): reports.componentsJSON = json
        case .failure(let error) where error.code == "components_not_reported":
            reports.componentsNote = "The agent has not reported its available components."
        case .failure(let error): reports.componentsNote = error.message
        }
        return Self.html(
            UI.agentPage(
                detail, health: Self.parse(detail.healthJSON), graph: graph, reports: reports, viewer: viewer))
    }

    // MARK: Responses

    /// What every page is sent with: no inline script or style may run, and no other site may
    /// frame it.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static let cspField = HTTPFields.Element.Name("Content-Security-Policy")!
    static let nosniffField = HTTPFields.Element.Name("X-Content-Type-Options")!
    static let referrerField = HTTPFields.Element.Name("Referrer-Policy")!

    static func html(_ page: HTML, status: HTTPResponse.Status = .ok) -> Response {
        var response = Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: page.text)))
        response.headers[Self.cspField] = contentSecurityPolicy
        response.headers[Self.nosniffField] = "nosniff"
        response.headers[.cacheControl] = "no-store"
        response.headers[Self.referrerField] = "same-origin"
        return response
    }

    static func redirect(_ location: String) -> Response {
        var response = Response(status: .seeOther)
        response.headers[.location] = location
        return response
    }

    private static func asset(_ bytes: [UInt8], type: String) -> Response {
        var response = Response(
            status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        response.headers[.cacheControl] = "no-cache"
        response.headers[Self.nosniffField] = "nosniff"
        return response
    }

    /// A refusal of a page request as a person should see it: to the sign-in page when there
    /// is no (live) credential, else an HTML page saying why. Nil for requests that are not
    /// for pages, which keep the API's JSON.
    static func pageRefusal(
        _ error: any Error, request: Request, endpoint: String?, principal: OperatorPrincipal?
    ) -> Response? {
        guard let endpoint else { return nil }
        let form = uiFormRouteKeys.contains("\(request.method.rawValue) \(endpoint)")
        guard form || request.method == .get || request.method == .head,
            form || uiRouteKeys.contains("GET \(endpoint)"),
            !endpoint.hasPrefix("/ui/")
        else { return nil }
        let status: Int
        let message: String
        switch error {
        case let error as APIError:
            status = Int(error.status.code)
            message = error.message
        case let error as HTTPError:
            status = Int(error.status.code)
            message = error.body ?? error.status.reasonPhrase
        default:
            status = 500
            message = "\(error)"
        }
        if status == 401 {
            let expired = (error as? APIError)?.code == "session_expired"
            var target = form ? formPage(request.uri.path) : request.uri.path
            if !form, let query = request.uri.query, !query.isEmpty { target += "?" + query }
            return redirect("/login" + HTML.query([("next", target), ("expired", expired ? "1" : nil)]))
        }
        let viewer = principal.map { UI.Viewer(name: $0.name, role: $0.role) }
        return html(
            UI.errorPage(
                status: status, message: message, viewer: viewer, back: form ? formPage(request.uri.path) : nil),
            status: HTTPResponse.Status(code: status))
    }
}
