import Fleet
import Foundation
import Hummingbird

/// The browser login: OpenID Connect's authorization code flow with PKCE, ending in a session
/// cookie (HttpOnly, SameSite=Strict, Secure when the operator port has TLS) and a CSRF token
/// the page sends back on every change.
extension OperatorAPI {
    func addLoginRoutes(to router: Router<OperatorContext>) {
        router.get("/auth/login") { request, context in try await login(request, context: context) }
        router.get("/auth/callback") { request, context in try await callback(request, context: context) }
        router.post("/auth/logout") { request, _ in try await logout(request) }
    }

    private func verifier() throws -> OIDCVerifier {
        guard let oidc else {
            throw APIError(
                .notFound, "oidc_not_configured", "this server has no OpenID Connect provider (--oidc-issuer)")
        }
        return oidc
    }

    /// `GET /auth/login?next=/path`: to the provider, with state, nonce and a PKCE challenge.
    private func login(_ request: Request, context: OperatorContext) async throws -> Response {
        let oidc = try verifier()
        var next = request.uri.queryParameters["next"].map(String.init) ?? "/"
        // Only a path on this server: never an open redirect.
        if !next.hasPrefix("/") || next.hasPrefix("//") || next.contains("\\") { next = "/" }
        let endpoints: OIDCVerifier.Endpoints
        do {
            endpoints = try await oidc.endpoints()
        } catch {
            throw APIError(.badGateway, "oidc_unavailable", "the OpenID Connect provider cannot be reached: \(error)")
        }
        let redirect = oidc.settings.redirectURL ?? redirectURL(request)
        let (key, pending) = sessions.begin(next: next, redirect: redirect)
        let challenge = BrowserSessions.base64URL(Data(ConfigHash.sha256(Array(pending.verifier.utf8))))
        guard var target = URLComponents(string: endpoints.authorization) else {
            throw APIError(.badGateway, "oidc_unavailable", "the provider's authorization endpoint is not a URL")
        }
        target.queryItems =
            (target.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"),
                URLQueryItem(name: "client_id", value: oidc.settings.clientID),
                URLQueryItem(name: "redirect_uri", value: redirect),
                URLQueryItem(name: "scope", value: "openid profile email"),
                URLQueryItem(name: "state", value: key), URLQueryItem(name: "nonce", value: pending.nonce),
                URLQueryItem(name: "code_challenge", value: challenge),
                URLQueryItem(name: "code_challenge_method", value: "S256"),
            ]
        var response = Response(status: .found)
        response.headers[.location] = target.url?.absoluteString ?? endpoints.authorization
        // Lax, not Strict: the browser comes back from the provider's site and must bring it.
        response.headers[.setCookie] =
            "\(BrowserSessions.loginCookie)=\(key); Path=/auth; Max-Age=600; HttpOnly; SameSite=Lax\(secure)"
        return response
    }

    /// `GET /auth/callback?code&state`: the code for tokens, the ID token checked, a session.
    private func callback(_ request: Request, context: OperatorContext) async throws -> Response {
        let oidc = try verifier()
        let query = request.uri.queryParameters
        let key = query["state"].map(String.init) ?? ""
        let cookie = BrowserSessions.cookies(request.headers[.cookie])[BrowserSessions.loginCookie]
        func denied(_ why: String) -> APIError {
            audit(actor: "anonymous", role: "", outcome: "denied", detail: "OIDC login refused: \(why)", context)
            return APIError(.unauthorized, "login_failed", why)
        }
        if let error = query["error"] {
            throw denied("the provider said \(error): \(query["error_description"].map(String.init) ?? "")")
        }
        guard !key.isEmpty, key == cookie, let pending = sessions.finish(key) else {
            throw denied("this login was not started here, or it took longer than 10 minutes")
        }
        guard let code = query["code"].map(String.init), !code.isEmpty else { throw denied("no code came back") }
        let endpoints = try await oidc.endpoints()
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", pending.redirect),
            ("client_id", oidc.settings.clientID), ("code_verifier", pending.verifier),
        ]
        if let secret = oidc.settings.clientSecret { form.append(("client_secret", secret)) }
        let tokens: [String: Any]
        do {
            tokens = try await OIDCVerifier.fetchJSON(endpoints.token, body: Self.formEncoded(form))
        } catch {
            throw denied("the provider refused the code: \(error)")
        }
        guard let idToken = tokens["id_token"] as? String else { throw denied("the provider sent no ID token") }
        let principal: OperatorPrincipal
        let claims: OIDCClaims
        do {
            let (verified, payload) = try await oidc.verify(
                idToken, audience: oidc.settings.clientID, nonce: pending.nonce)
            claims = verified
            guard let granted = oidc.principal(verified, payload) else {
                throw OIDCRefusal(description: "\(verified.sub.value) has no Ampora role")
            }
            principal = granted
        } catch let refusal as OIDCRefusal {
            throw denied(refusal.description)
        }
        let remaining = max(0, claims.exp.value.timeIntervalSinceNow)
        let (id, csrf) = sessions.open(principal, until: .now + .seconds(remaining))
        audit(actor: principal.name, role: principal.role.rawValue, outcome: "ok", detail: "OIDC login", context)
        var response = Response(status: .seeOther)
        response.headers[.location] = pending.next
        setSessionCookies(id: id, csrf: csrf, on: &response)
        response.headers.append(
            HTTPFields.Element(
                name: .setCookie,
                value: "\(BrowserSessions.loginCookie)=; Path=/auth; Max-Age=0; HttpOnly; SameSite=Lax"))
        return response
    }

    /// `POST /auth/logout` (with the session's CSRF token as `X-CSRF-Token` or a `csrf` form
    /// field): ends the session; 204, or for a posted form a 303 to the sign-in page.
    private func logout(_ request: Request) async throws -> Response {
        let cookies = BrowserSessions.cookies(request.headers[.cookie])
        // A form posted by the web UI without its script goes on to the sign-in page; a script
        // gets the 204.
        let fromForm = request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true
        var response = fromForm ? Self.redirect("/login") : Response(status: .noContent)
        for name in [BrowserSessions.sessionCookie, BrowserSessions.csrfCookie] {
            response.headers.append(
                HTTPFields.Element(name: .setCookie, value: "\(name)=; Path=/; Max-Age=0; SameSite=Strict"))
        }
        // Nothing to end is not an error: the browser is signed out either way.
        guard let id = cookies[BrowserSessions.sessionCookie], let session = sessions.find(id) else { return response }
        let body = try await Self.collect(request, limit: 4096)
        let field = String(decoding: body, as: UTF8.self).split(separator: "&").first { $0.hasPrefix("csrf=") }
            .map { String($0.dropFirst(5)).removingPercentEncoding ?? "" }
        guard request.headers[Access.csrfField] == session.csrf || field == session.csrf else {
            throw APIError(.forbidden, "csrf_failed", "send the session's CSRF token (X-CSRF-Token)")
        }
        sessions.close(id)
        return response
    }

    private var secure: String { secureCookies ? "; Secure" : "" }

    /// The cookies of a new browser session (an OIDC or a token login): the session itself,
    /// which scripts cannot read, and the CSRF token, which the page's script sends back.
    func setSessionCookies(id: String, csrf: String, on response: inout Response) {
        response.headers.append(
            HTTPFields.Element(
                name: .setCookie,
                value: "\(BrowserSessions.sessionCookie)=\(id); Path=/; HttpOnly; SameSite=Strict\(secure)"))
        response.headers.append(
            HTTPFields.Element(
                name: .setCookie, value: "\(BrowserSessions.csrfCookie)=\(csrf); Path=/; SameSite=Strict\(secure)"))
    }

    private func redirectURL(_ request: Request) -> String {
        let host = request.head.authority ?? "localhost"
        return (secureCookies ? "https" : "http") + "://" + host + "/auth/callback"
    }

    private func audit(actor: String, role: String, outcome: String, detail: String, _ context: OperatorContext) {
        fleet.record(
            audit: AuditEntry(
                at: fleet.options.clock(), actor: actor, role: role, action: "login", target: "/auth/callback",
                requestID: context.requestID, source: context.source, outcome: outcome,
                status: outcome == "ok" ? 303 : 401, detail: detail))
    }

    static func formEncoded(_ pairs: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return pairs.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}
