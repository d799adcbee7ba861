import Foundation
import Synchronization

/// Browser sessions of the operator plane (made by an OIDC login or a token login) and the
/// logins under way.
/// Held in memory: a restart signs browsers out, and a session stands for the identity the
/// provider vouched for until it expires (at most `lifetime`).
final class BrowserSessions: Sendable {
    /// A signed-in browser.
    struct Session: Sendable {
        var principal: OperatorPrincipal
        /// Sent back by the page as `X-CSRF-Token` on every change (it is readable from the
        /// `ampora_csrf` cookie, which another site cannot read).
        var csrf: String
        var expires: ContinuousClock.Instant
        /// The personal access token a token login (`POST /login`) presented: the session
        /// ends when the token is revoked or expires. Nil for an OIDC login.
        var tokenID: String? = nil
    }

    /// A login sent to the provider and not back yet.
    struct PendingLogin: Sendable {
        var verifier: String
        var nonce: String
        var next: String
        var redirect: String
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var pending: [String: PendingLogin] = [:]
    }

    /// Cookie names.
    static let sessionCookie = "ampora_session"
    static let csrfCookie = "ampora_csrf"
    static let loginCookie = "ampora_login"
    /// Bounds, so that a flood of login starts cannot grow memory without end.
    static let maxPending = 10_000
    static let maxSessions = 100_000

    private let state = Mutex(State())
    /// The longest a session lives, whatever the ID token says.
    let lifetime: Duration

    init(lifetime: Duration = .seconds(12 * 3600)) {
        self.lifetime = lifetime
    }

    /// Starts a login: the state (also set as a cookie), the PKCE verifier and the nonce.
    func begin(next: String, redirect: String) -> (state: String, login: PendingLogin) {
        let now = ContinuousClock.now
        let login = PendingLogin(
            verifier: Self.random(), nonce: Self.random(), next: next, redirect: redirect,
            expires: now + .seconds(600))
        let key = Self.random()
        state.withLock { s in
            Self.makeRoom(in: &s.pending, bound: Self.maxPending, now: now, expiry: \.expires)
            s.pending[key] = login
        }
        return (key, login)
    }

    /// The login `key` started, once (a second callback with it finds nothing).
    func finish(_ key: String) -> PendingLogin? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let login = s.pending.removeValue(forKey: key), login.expires > now else { return nil }
            return login
        }
    }

    /// A new session for `principal`; returns its id and CSRF token.
    func open(_ principal: OperatorPrincipal, until expiry: ContinuousClock.Instant, tokenID: String? = nil) -> (
        id: String, csrf: String
    ) {
        let now = ContinuousClock.now
        let session = Session(
            principal: principal, csrf: Self.random(), expires: min(expiry, now + lifetime), tokenID: tokenID)
        let id = Self.random()
        state.withLock { s in
            Self.makeRoom(in: &s.sessions, bound: Self.maxSessions, now: now, expiry: \.expires)
            s.sessions[id] = session
        }
        return (id, session.csrf)
    }

    /// The live session with this id.
    func find(_ id: String) -> Session? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let session = s.sessions[id] else { return nil }
            guard session.expires > now else {
                s.sessions[id] = nil
                return nil
            }
            return session
        }
    }

    /// Ends a session.
    func close(_ id: String) {
        _ = state.withLock { $0.sessions.removeValue(forKey: id) }
    }

    /// Keeps `map` under `bound` entries: the expired ones go first, then the one closest to
    /// expiring.
    private static func makeRoom<Value>(
        in map: inout [String: Value], bound: Int, now: ContinuousClock.Instant,
        expiry: KeyPath<Value, ContinuousClock.Instant>
    ) {
        guard map.count >= bound else { return }
        map = map.filter { $0.value[keyPath: expiry] > now }
        if map.count >= bound, let oldest = map.min(by: { $0.value[keyPath: expiry] < $1.value[keyPath: expiry] }) {
            map[oldest.key] = nil
        }
    }

    /// 32 random bytes, base64url without padding.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return base64URL(Data(bytes))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The cookies of a request, by name.
    static func cookies(_ header: String?) -> [String: String] {
        var out: [String: String] = [:]
        for part in (header ?? "").split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            out[pair[0].trimmingCharacters(in: .whitespaces)] = pair[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }
}
