import Foundation
import Synchronization

/// What an operator may do, weakest first: a viewer reads, an operator also changes configs,
/// rollouts, groups and agents, an admin also manages tokens, identities and the CA.
public enum OperatorRole: String, Sendable, CaseIterable, Comparable {
    case viewer
    case `operator`
    case admin

    /// Whether a holder of this role may do what `needed` allows.
    public func allows(_ needed: OperatorRole) -> Bool { self >= needed }

    public static func < (a: OperatorRole, b: OperatorRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A personal access token as listed: never the token itself, which is shown once.
public struct OperatorToken: Sendable, Equatable {
    /// A stable handle for listing and revoking (the first hex digits of the token's hash).
    public var id: String
    /// What the token is for, as its creator called it.
    public var name: String
    /// What the token may do.
    public var role: OperatorRole
    /// The first characters of the token, to recognise it.
    public var prefix: String
    /// Who created it: a token's name, or `cli` for `ampora token create`.
    public var createdBy: String
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// When it stops being accepted, if ever.
    public var expiresAt: Int64?
    /// When it was last presented with success, if ever.
    public var lastUsedAt: Int64?
    /// When it was revoked, if it was.
    public var revokedAt: Int64?
}

/// The outcome of presenting a bearer token to the operator API.
public enum OperatorAuthentication: Sendable, Equatable {
    /// A live token.
    case accepted(OperatorToken)
    /// Not a token this server issued.
    case unknown
    /// Past its expiry.
    case expired
    /// Revoked by an admin.
    case revoked
}

/// Personal access tokens of the operator plane, held in memory by hash (a lookup per request)
/// and in the database by hash only. Tokens created or revoked by another process (`ampora
/// token create|revoke`) are picked up by `refresh`, which also writes the last-use times.
final class OperatorTokens: Sendable {
    private struct State {
        var byHash: [String: OperatorToken] = [:]
        /// Hashes whose last use is newer in memory than in the database.
        var used: Set<String> = []
    }

    private let state: Mutex<State>
    private let store: any FleetStore
    private let clock: @Sendable () -> Int64

    init(store: any FleetStore, rows: [(hash: String, token: OperatorToken)], clock: @escaping @Sendable () -> Int64) {
        var initial = State()
        for row in rows { initial.byHash[row.hash] = row.token }
        state = Mutex(initial)
        self.store = store
        self.clock = clock
    }

    /// Whether no token was ever created (a first start, which prints a bootstrap token).
    var isEmpty: Bool { state.withLock { $0.byHash.isEmpty } }

    /// A new token, returned once with what is listed about it.
    func create(role: OperatorRole, name: String, expiresAfterMilliseconds: Int64?, createdBy: String)
        throws(StoreError) -> (token: String, info: OperatorToken)
    {
        let token = Secrets.token(prefix: "amp_")
        let info = try add(
            token: token, role: role, name: name, expiresAfterMilliseconds: expiresAfterMilliseconds,
            createdBy: createdBy)
        return (token, info)
    }

    /// Accepts `token` (chosen by the operator, as with `--admin-token-file`) with `role`;
    /// nothing changes when it is known already.
    @discardableResult
    func register(token: String, role: OperatorRole, name: String) throws(StoreError) -> OperatorToken {
        if let known = state.withLock({ $0.byHash[Self.hash(token)] }) { return known }
        return try add(token: token, role: role, name: name, expiresAfterMilliseconds: nil, createdBy: "server")
    }

    private func add(
        token: String, role: OperatorRole, name: String, expiresAfterMilliseconds: Int64?, createdBy: String
    ) throws(StoreError) -> OperatorToken {
        let hash = Self.hash(token)
        let now = clock()
        let info = OperatorToken(
            id: String(hash.prefix(16)), name: name, role: role, prefix: String(token.prefix(12)),
            createdBy: createdBy, createdAt: now, expiresAt: expiresAfterMilliseconds.map { now + $0 })
        try store.execute([
            (
                "INSERT INTO operator_tokens (hash, id, name, role, prefix, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [
                    hash, info.id, info.name, info.role.rawValue, info.prefix, info.createdBy, String(now),
                    info.expiresAt.map(String.init),
                ]
            )
        ])
        state.withLock { $0.byHash[hash] = info }
        return info
    }

    /// Checks a presented token; a live one has its last use recorded.
    func authenticate(_ token: String) -> OperatorAuthentication {
        let hash = Self.hash(token)
        let now = clock()
        return state.withLock { s in
            guard var info = s.byHash[hash] else { return .unknown }
            if info.revokedAt != nil { return .revoked }
            if let expiresAt = info.expiresAt, now >= expiresAt { return .expired }
            info.lastUsedAt = now
            s.byHash[hash] = info
            s.used.insert(hash)
            return .accepted(info)
        }
    }

    /// Every token, newest first.
    func list() -> [OperatorToken] {
        state.withLock { $0.byHash.values.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) } }
    }

    /// Revokes the token with this id at once; false when there is none (or it was revoked).
    func revoke(id: String) throws(StoreError) -> Bool {
        let now = clock()
        guard let hash = state.withLock({ s in s.byHash.first { $0.value.id == id && $0.value.revokedAt == nil }?.key })
        else { return false }
        try store.execute([("UPDATE operator_tokens SET revoked_at = $1 WHERE hash = $2", [String(now), hash])])
        state.withLock { $0.byHash[hash]?.revokedAt = now }
        return true
    }

    /// Takes in tokens created and revoked elsewhere and writes the last-use times.
    func refresh() {
        let used: [(String, Int64)] = state.withLock { s in
            defer { s.used.removeAll() }
            return s.used.compactMap { hash in s.byHash[hash]?.lastUsedAt.map { (hash, $0) } }
        }
        if !used.isEmpty {
            // Never back in time: another instance may have stored a later use.
            let statements = used.map { hash, at in
                (
                    "UPDATE operator_tokens SET last_used_at = $1 WHERE hash = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                    [String(at), hash] as [String?]
                )
            }
            if (try? store.execute(statements)) == nil {
                state.withLock { s in for (hash, _) in used { s.used.insert(hash) } }
            }
        }
        guard let rows = try? Self.load(from: store) else { return }
        state.withLock { s in
            for row in rows {
                guard var held = s.byHash[row.hash] else {
                    s.byHash[row.hash] = row.token
                    continue
                }
                held.revokedAt = held.revokedAt ?? row.token.revokedAt
                // The latest use anywhere (another instance's, once it wrote it).
                if let stored = row.token.lastUsedAt, stored > held.lastUsedAt ?? 0 { held.lastUsedAt = stored }
                s.byHash[row.hash] = held
            }
        }
    }

    /// Every stored token with its hash.
    static func load(from store: any FleetStore) throws(StoreError) -> [(hash: String, token: OperatorToken)] {
        try store.select(
            "SELECT hash, id, name, role, prefix, created_by, created_at, expires_at, last_used_at, revoked_at FROM operator_tokens",
            []
        ).map { r in
            (
                r[0] ?? "",
                OperatorToken(
                    id: r[1] ?? "", name: r[2] ?? "", role: OperatorRole(rawValue: r[3] ?? "") ?? .viewer,
                    prefix: r[4] ?? "", createdBy: r[5] ?? "", createdAt: Int64(r[6] ?? "") ?? 0,
                    expiresAt: r[7].flatMap { Int64($0) }, lastUsedAt: r[8].flatMap { Int64($0) },
                    revokedAt: r[9].flatMap { Int64($0) })
            )
        }
    }

    /// Hex SHA-256 of a token, as stored and looked up.
    static func hash(_ token: String) -> String { Secrets.hash(token) }
}

/// Personal access tokens managed outside a running server (`ampora token`).
public enum OperatorTokenStore {
    /// Creates a token in `store`; returns it (shown once: only its hash is stored).
    public static func create(
        in store: any FleetStore, role: OperatorRole, name: String, expiresAfterMilliseconds: Int64?
    ) throws(StoreError) -> String {
        try OperatorTokens(store: store, rows: [], clock: WallClock.milliseconds).create(
            role: role, name: name, expiresAfterMilliseconds: expiresAfterMilliseconds, createdBy: "cli"
        ).token
    }

    /// Every token in `store`, newest first.
    public static func list(in store: any FleetStore) throws(StoreError) -> [OperatorToken] {
        try OperatorTokens(store: store, rows: OperatorTokens.load(from: store), clock: WallClock.milliseconds).list()
    }

    /// Revokes the token with this id; false when there is none. A running server stops
    /// accepting it within two seconds.
    public static func revoke(in store: any FleetStore, id: String) throws(StoreError) -> Bool {
        try OperatorTokens(store: store, rows: OperatorTokens.load(from: store), clock: WallClock.milliseconds)
            .revoke(id: id)
    }
}
