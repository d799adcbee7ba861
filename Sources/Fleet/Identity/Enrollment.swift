import Core
import Foundation
import Synchronization

/// What an enrollment token is worth right now.
public enum EnrollmentCheck: Sendable, Equatable {
    /// Known, not expired; it may still have uses left or be used up (see `Enrollment.enroll`).
    case valid
    /// Not a token this server issued.
    case unknown
    /// Past its expiry.
    case expired
}

/// Enrollment tokens: created by an operator, stored as hashes, checked when an agent connects
/// and spent, one use per new agent, when it registers. Checks run on loop threads (a lookup
/// under a mutex); tokens created by another process (`ampora token create`) are picked up by
/// `refresh`, which the fleet runs every few seconds off the loops.
final class Enrollment: Sendable {
    private let tokens: Mutex<[String: EnrollmentRow]>
    private let store: any FleetStore
    private let writes = DispatchQueue(label: "fleet-enrollment")
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> Int64

    init(
        store: any FleetStore, rows: [EnrollmentRow], log: @escaping @Sendable (String) -> Void,
        clock: @escaping @Sendable () -> Int64
    ) {
        tokens = Mutex(Dictionary(rows.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a }))
        self.store = store
        self.log = log
        self.clock = clock
    }

    /// A new token: 32 random bytes, base64url with an `ampora_` prefix. Only its hash is kept.
    func create(uses: Int64?, expiresAfterMilliseconds: Int64?, labels: [String: String]) throws(StoreError)
        -> String
    {
        let token = Secrets.token(prefix: "ampora_")
        let now = clock()
        let row = EnrollmentRow(
            hash: Self.hash(token), labels: labels, usesLeft: uses,
            expiresAt: expiresAfterMilliseconds.map { now + $0 },
            createdAt: now)
        try store.saveToken(row)
        tokens.withLock { $0[row.hash] = row }
        return token
    }

    /// Whether the token with this hash may be used now.
    func check(hash: String) -> EnrollmentCheck {
        let now = clock()
        return tokens.withLock { map in
            guard let row = map[hash] else { return .unknown }
            if let expiresAt = row.expiresAt, now >= expiresAt { return .expired }
            return .valid
        }
    }

    /// Spends one use of the token for a new agent; false when none is left (or the token is
    /// unknown or expired). The use is taken from the database off the loop; with several
    /// instances, the count held here then follows the database's (`adopt`).
    func enroll(hash: String) -> Bool {
        let now = clock()
        let spent: Int64?? = tokens.withLock { map in
            guard var row = map[hash] else { return nil }
            if let expiresAt = row.expiresAt, now >= expiresAt { return nil }
            guard let left = row.usesLeft else { return .some(nil) }
            guard left > 0 else { return nil }
            row.usesLeft = left - 1
            map[hash] = row
            return .some(left - 1)
        }
        guard let spent else { return false }
        if spent != nil {
            writes.async { [self] in
                do {
                    let left = try store.spendTokenUse(hash: hash)
                    if left == nil {
                        log(
                            "fleet: enrollment token \(EnrollmentTokenInfo.id(hash: hash)) enrolled an agent after another instance took its last use"
                        )
                    }
                    adopt(hash: hash, usesLeft: left ?? 0)
                } catch {
                    log("fleet: the use of an enrollment token was not saved: \(error)")
                }
            }
        }
        return true
    }

    /// Lowers the uses held for a token to what the database has left (other instances spend too).
    private func adopt(hash: String, usesLeft stored: Int64) {
        tokens.withLock { map in
            guard let held = map[hash]?.usesLeft, stored < held else { return }
            map[hash]?.usesLeft = stored
        }
    }

    /// Labels of the token with this hash.
    func labels(hash: String) -> [String: String] {
        tokens.withLock { $0[hash]?.labels ?? [:] }
    }

    /// Adds tokens another process created since the last look, drops those it revoked, and
    /// lowers the uses held to what is stored (another instance spent some); a count is never
    /// raised by it.
    func refresh() {
        writes.sync {}
        guard let rows = try? store.loadTokens() else { return }
        let stored = Set(rows.map(\.hash))
        tokens.withLock { map in
            for row in rows {
                guard let held = map[row.hash] else {
                    map[row.hash] = row
                    continue
                }
                if let left = row.usesLeft, let mine = held.usesLeft, left < mine { map[row.hash]?.usesLeft = left }
            }
            for hash in map.keys where !stored.contains(hash) { map[hash] = nil }
        }
    }

    /// Every token, newest first, by id (never the token itself, which is not kept).
    func list() -> [EnrollmentTokenInfo] {
        tokens.withLock { $0.values.map(EnrollmentTokenInfo.init) }.sorted {
            $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id < $1.id
        }
    }

    /// Deletes the token with this id; false when there is none. Agents it enrolled stay.
    func revoke(id: String) throws(StoreError) -> Bool {
        guard let hash = tokens.withLock({ map in map.keys.first { EnrollmentTokenInfo.id(hash: $0) == id } }) else {
            return false
        }
        try store.execute([("DELETE FROM enrollment_tokens WHERE hash = $1", [hash])])
        tokens.withLock { $0[hash] = nil }
        return true
    }

    /// Waits for the use counts queued so far to be written.
    func flush() {
        writes.sync {}
    }

    /// Hex SHA-256 of a token, as stored and looked up.
    static func hash(_ token: String) -> String { Secrets.hash(token) }
}

/// An enrollment token as listed: what it gives and how much of it is left.
public struct EnrollmentTokenInfo: Sendable, Equatable {
    /// The first 16 hex digits of the token's hash: names it without revealing it.
    public var id: String
    /// Labels an agent enrolled with it is given.
    public var labels: [String: String]
    /// Agents it may still enroll; nil: any number.
    public var usesLeft: Int64?
    /// Milliseconds since the Unix epoch; nil: never expires.
    public var expiresAt: Int64?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    init(_ row: EnrollmentRow) {
        id = Self.id(hash: row.hash)
        labels = row.labels
        usesLeft = row.usesLeft
        expiresAt = row.expiresAt
        createdAt = row.createdAt
    }

    static func id(hash: String) -> String { String(hash.prefix(16)) }

    /// The id of `token`.
    public static func id(token: String) -> String { id(hash: Secrets.hash(token)) }
}

/// Enrollment tokens created outside a running server (`ampora token create`).
public enum EnrollmentTokens {
    /// Creates a token in `store`; returns it (it is shown once: only its hash is stored).
    public static func create(
        in store: any FleetStore, uses: Int64?, expiresAfterMilliseconds: Int64?, labels: [String: String]
    ) throws(StoreError) -> String {
        try Enrollment(store: store, rows: [], log: { _ in }, clock: WallClock.milliseconds).create(
            uses: uses, expiresAfterMilliseconds: expiresAfterMilliseconds, labels: labels)
    }
}
