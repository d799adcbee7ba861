import Fleet
import Foundation
import JWTKit
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// How the operator plane trusts an OpenID Connect provider.
public struct OIDCSettings: Sendable {
    /// The issuer URL; its `/.well-known/openid-configuration` names the keys and endpoints.
    public var issuer: String
    /// The audience bearer tokens must name (default: the client id).
    public var audience: String
    /// The claim that carries roles or groups; a dotted path reaches into objects.
    public var roleClaim = "groups"
    /// Claim values and the role each grants (the strongest granted wins).
    public var roles: [String: OperatorRole] = [:]
    /// The client id of the browser login (authorization code with PKCE).
    public var clientID: String
    /// Its secret, for providers that want one at the token endpoint.
    public var clientSecret: String?
    /// Where the provider sends the browser back (`…/auth/callback` on this server).
    public var redirectURL: String?

    /// Settings for `issuer`, with `clientID` as the audience.
    public init(issuer: String, clientID: String) {
        self.issuer = issuer
        self.clientID = clientID
        audience = clientID
    }
}

/// Why a bearer JWT or an ID token was refused.
struct OIDCRefusal: Error, CustomStringConvertible {
    var description: String
}

/// The claims Ampora checks itself; the role claim is read from the raw payload after the
/// signature is verified (its name is configured, so it has no fixed Codable field).
struct OIDCClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var nonce: String?
    var name: String?
    var email: String?
    var preferredUsername: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, nbf, nonce, name, email
        case preferredUsername = "preferred_username"
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// Verifies tokens of one OpenID Connect provider: discovery once, the JWKS cached and fetched
/// again when a token names a key it does not hold (at most every 10 s, so an attacker
/// inventing key ids cannot make the server hammer the provider).
final class OIDCVerifier: Sendable {
    /// The provider's endpoints, from discovery.
    struct Endpoints: Sendable {
        var authorization: String
        var token: String
        var jwks: String
    }

    private struct State {
        var endpoints: Endpoints?
        var keys: JWTKeyCollection?
        var kids: Set<String> = []
        var fetchedAt: ContinuousClock.Instant?
    }

    let settings: OIDCSettings
    private let state = Mutex(State())

    init(settings: OIDCSettings) {
        self.settings = settings
    }

    /// The provider's endpoints (discovered on first use).
    func endpoints() async throws -> Endpoints {
        if let known = state.withLock({ $0.endpoints }) { return known }
        let base = settings.issuer.hasSuffix("/") ? String(settings.issuer.dropLast()) : settings.issuer
        let document = try await Self.fetchJSON(base + "/.well-known/openid-configuration")
        guard let issuer = document["issuer"] as? String, issuer == settings.issuer || issuer == base,
            let authorization = document["authorization_endpoint"] as? String,
            let token = document["token_endpoint"] as? String, let jwks = document["jwks_uri"] as? String
        else {
            throw OIDCRefusal(description: "the provider's discovery document does not match --oidc-issuer")
        }
        let found = Endpoints(authorization: authorization, token: token, jwks: jwks)
        state.withLock { $0.endpoints = found }
        return found
    }

    /// The verified claims of `token` and its raw payload; throws `OIDCRefusal` with the reason.
    func verify(_ token: String, audience: String, nonce: String? = nil) async throws -> (
        OIDCClaims, [String: Any]
    ) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.decodeSegment(parts[0]), let payload = Self.decodeSegment(parts[1])
        else { throw OIDCRefusal(description: "the token is not a JWT") }
        let kid = header["kid"] as? String ?? ""
        let (keys, kids) = try await currentKeys(refreshingFor: kid)
        // Only keys the provider publishes, each used for the tokens that name it.
        guard kids.contains(kid) else {
            throw OIDCRefusal(description: "the token is signed with a key the provider does not publish")
        }
        let claims: OIDCClaims
        do {
            claims = try await keys.verify(token, as: OIDCClaims.self)
        } catch let error as JWTError {
            throw OIDCRefusal(description: Self.reason(error))
        } catch {
            throw OIDCRefusal(description: "the token does not verify")
        }
        let issuer = settings.issuer.hasSuffix("/") ? String(settings.issuer.dropLast()) : settings.issuer
        guard claims.iss.value == settings.issuer || claims.iss.value == issuer else {
            throw OIDCRefusal(description: "the token is from another issuer")
        }
        guard claims.aud.value.contains(audience) else {
            throw OIDCRefusal(description: "the token is meant for another audience")
        }
        if let nonce, claims.nonce != nonce { throw OIDCRefusal(description: "the ID token's nonce does not match") }
        return (claims, payload)
    }

    /// The principal a verified token stands for: its subject's name and the strongest role its
    /// role claim grants; nil when it grants none.
    func principal(_ claims: OIDCClaims, _ payload: [String: Any]) -> OperatorPrincipal? {
        var value: Any? = payload
        for key in settings.roleClaim.split(separator: ".") { value = (value as? [String: Any])?[String(key)] }
        let granted: [String] =
            switch value {
            case let text as String: [text]
            case let list as [Any]: list.compactMap { $0 as? String }
            default: []
            }
        guard let role = granted.compactMap({ settings.roles[$0] }).max() else { return nil }
        let name = claims.preferredUsername ?? claims.email ?? claims.name ?? claims.sub.value
        return OperatorPrincipal(name: "oidc:" + name, role: role)
    }

    /// The keys, fetched again when `kid` is not among them (unless they were fetched in the
    /// last 10 s), with their ids.
    private func currentKeys(refreshingFor kid: String) async throws -> (JWTKeyCollection, Set<String>) {
        let now = ContinuousClock.now
        // Attempts, failed ones too, are what is rate-limited: a provider that is down is not
        // asked again for every token that names an unknown key.
        let (keys, kids, recent) = state.withLock { s in
            let recent = s.fetchedAt.map { now - $0 < .seconds(10) } ?? false
            if !recent && !(s.keys != nil && s.kids.contains(kid)) { s.fetchedAt = now }
            return (s.keys, s.kids, recent)
        }
        if let keys, kids.contains(kid) || recent { return (keys, kids) }
        if recent { throw OIDCRefusal(description: "the provider's keys cannot be fetched now; try again shortly") }
        let endpoints = try await endpoints()
        let text: String
        do {
            text = try await Self.fetchText(endpoints.jwks)
        } catch {
            if let keys { return (keys, kids) }
            throw OIDCRefusal(description: "the provider's keys cannot be fetched: \(error)")
        }
        let collection = JWTKeyCollection()
        do {
            try await collection.add(jwksJSON: text)
        } catch {
            if let keys { return (keys, kids) }
            throw OIDCRefusal(description: "the provider's keys cannot be read")
        }
        let fetched = Set(
            ((try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["keys"] as? [[String: Any]]
                ?? []).compactMap { $0["kid"] as? String })
        state.withLock { s in
            s.keys = collection
            s.kids = fetched
        }
        return (collection, fetched)
    }

    private static func reason(_ error: JWTError) -> String {
        switch error.errorType {
        case .claimVerificationFailure: "the token has expired or is not valid yet"
        case .signatureVerificationFailed: "the token's signature does not verify"
        case .malformedToken: "the token is not a well-formed JWT"
        default: "the token does not verify"
        }
    }

    static func decodeSegment(_ segment: Substring) -> [String: Any]? {
        var text = segment.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func fetchText(_ url: String, body: String? = nil) async throws -> String {
        guard let target = URL(string: url) else { throw OIDCRefusal(description: "\(url) is not a URL") }
        var request = URLRequest(url: target)
        request.timeoutInterval = 10
        if let body {
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status), data.count <= 1 << 20 else {
            throw OIDCRefusal(description: "\(url) answered \(status)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func fetchJSON(_ url: String, body: String? = nil) async throws -> [String: Any] {
        let text = try await fetchText(url, body: body)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw OIDCRefusal(description: "\(url) did not answer a JSON object")
        }
        return object
    }
}
