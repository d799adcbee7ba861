import Foundation
import Synchronization

/// One line of the audit trail: who did what to what, and how it ended.
public struct AuditEntry: Sendable, Equatable {
    /// Its place in the trail (0 until stored); newer entries have larger ids.
    public var id: Int64 = 0
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// A token's name, an OIDC subject, `enrollment:…` for an agent's enrollment token, or
    /// `anonymous` for a refused credential.
    public var actor: String
    /// The actor's role, empty when it had none.
    public var role: String
    /// What was attempted, such as `rollout.create` or `agent.enroll`.
    public var action: String
    /// What it was done to: the request path, or an agent's uid.
    public var target: String
    /// The version or hash before (an `If-Match`), when known.
    public var before: String?
    /// The version or hash after (an `ETag`), when known.
    public var after: String?
    /// The request's `X-Request-Id`, empty outside a request.
    public var requestID: String
    /// The client's address, empty outside a request.
    public var source: String
    /// `ok`, `denied` (authentication or role) or `failed`.
    public var outcome: String
    /// The HTTP status, 0 outside a request.
    public var status: Int
    /// Anything more, such as the reason a credential was refused.
    public var detail: String

    /// An entry; the trail assigns its id.
    public init(
        at: Int64, actor: String, role: String, action: String, target: String, before: String? = nil,
        after: String? = nil, requestID: String = "", source: String = "", outcome: String, status: Int = 0,
        detail: String = ""
    ) {
        self.at = at
        self.actor = actor
        self.role = role
        self.action = action
        self.target = target
        self.before = before
        self.after = after
        self.requestID = requestID
        self.source = source
        self.outcome = outcome
        self.status = status
        self.detail = detail
    }
}

/// Filters for reading the audit trail, newest first.
public struct AuditQuery: Sendable {
    /// Only this actor.
    public var actor: String?
    /// Only this action.
    public var action: String?
    /// Only targets starting with this.
    public var target: String?
    /// Only this outcome.
    public var outcome: String?
    /// Only entries at or after this time (milliseconds).
    public var since: Int64?
    /// Only entries before this time (milliseconds).
    public var until: Int64?
    /// Only entries older than this id (the previous page's `nextCursor`).
    public var cursor: Int64?
    /// Entries per page.
    public var limit = 100

    /// No filter, the first page.
    public init() {}
}

/// A page of the audit trail.
public struct AuditPage: Sendable {
    /// Newest first.
    public var items: [AuditEntry]
    /// Entries matching the filters, on every page.
    public var total: Int
    /// The id to pass as `cursor` for the next page, nil on the last.
    public var nextCursor: Int64?
}

/// The append-only audit trail, in the fleet's database. Entries are written off the caller's
/// thread in order; when the database is away they wait in memory (up to a bound, beyond which
/// the oldest are dropped and counted) and are written when it is back.
final class AuditLog: Sendable {
    private struct State {
        var pending: [AuditEntry] = []
        var dropped = 0
    }

    /// Entries held while the database is away.
    static let pendingLimit = 100_000

    private let state = Mutex(State())
    private let store: any FleetStore
    private let writes = DispatchQueue(label: "fleet-audit")
    private let log: @Sendable (String) -> Void

    init(store: any FleetStore, log: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.log = log
    }

    /// Queues `entry` for writing.
    func append(_ entry: AuditEntry) {
        state.withLock { s in
            s.pending.append(entry)
            if s.pending.count > Self.pendingLimit {
                s.pending.removeFirst(s.pending.count - Self.pendingLimit)
                s.dropped += 1
            }
        }
        scheduleWrite()
    }

    /// Entries dropped because the database was away too long.
    var dropped: Int { state.withLock { $0.dropped } }

    /// Writes what is queued; on failure keeps it for the next attempt. Runs on `writes` only.
    private func write() {
        let batch = state.withLock { s in
            defer { s.pending.removeAll() }
            return s.pending
        }
        guard !batch.isEmpty else { return }
        do {
            try store.execute(
                batch.map { e in
                    (
                        "INSERT INTO audit_log (at, actor, role, action, target, before_value, after_value, request_id, source, outcome, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        [
                            String(e.at), e.actor, e.role, e.action, e.target, e.before, e.after, e.requestID, e.source,
                            e.outcome, String(e.status), e.detail,
                        ]
                    )
                })
        } catch {
            state.withLock { s in s.pending.insert(contentsOf: batch, at: 0) }
            log("fleet: \(batch.count) audit entries wait for the database: \(error)")
        }
    }

    /// Writes, on the writing queue, what is queued (new entries, or those that waited for
    /// the database): one writer at a time, so entries are stored in the order appended.
    func scheduleWrite() {
        writes.async { [self] in write() }
    }

    /// Waits until what was appended so far had its write attempted.
    func flush() {
        writes.sync { write() }
    }

    /// A page of stored entries (after writing what is queued, so a reader sees its own acts).
    func page(_ query: AuditQuery) throws(StoreError) -> AuditPage {
        flush()
        var conditions: [String] = []
        var params: [String?] = []
        func add(_ condition: String, _ value: String) {
            params.append(value)
            conditions.append(condition.replacingAll("?", "$\(params.count)"))
        }
        if let actor = query.actor { add("actor = ?", actor) }
        if let action = query.action { add("action = ?", action) }
        if let outcome = query.outcome { add("outcome = ?", outcome) }
        if let target = query.target { add("substr(target, 1, \(target.utf8.count)) = ?", target) }
        if let since = query.since { add("at >= ?", String(since)) }
        if let until = query.until { add("at < ?", String(until)) }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let total = Int(try store.select("SELECT COUNT(*) FROM audit_log" + filter, params).first?[0] ?? "") ?? 0
        var pageConditions = conditions
        var pageParams = params
        if let cursor = query.cursor {
            pageParams.append(String(cursor))
            pageConditions.append("id < $\(pageParams.count)")
        }
        let pageFilter = pageConditions.isEmpty ? "" : " WHERE " + pageConditions.joined(separator: " AND ")
        let rows = try store.select(
            "SELECT id, at, actor, role, action, target, before_value, after_value, request_id, source, outcome, status, detail FROM audit_log"
                + pageFilter + " ORDER BY id DESC LIMIT \(query.limit + 1)", pageParams)
        let items = rows.prefix(query.limit).map { r in
            var entry = AuditEntry(
                at: Int64(r[1] ?? "") ?? 0, actor: r[2] ?? "", role: r[3] ?? "", action: r[4] ?? "", target: r[5] ?? "",
                before: r[6], after: r[7], requestID: r[8] ?? "", source: r[9] ?? "", outcome: r[10] ?? "",
                status: Int(r[11] ?? "") ?? 0, detail: r[12] ?? "")
            entry.id = Int64(r[0] ?? "") ?? 0
            return entry
        }
        return AuditPage(
            items: Array(items), total: total, nextCursor: rows.count > query.limit ? items.last?.id : nil)
    }

    /// Deletes entries older than `cutoff` (the retention policy); returns how many.
    @discardableResult
    func prune(before cutoff: Int64) -> Int {
        let old =
            Int((try? store.select("SELECT COUNT(*) FROM audit_log WHERE at < $1", [String(cutoff)]))?.first?[0] ?? "")
            ?? 0
        guard old > 0 else { return 0 }
        do {
            try store.execute([("DELETE FROM audit_log WHERE at < $1", [String(cutoff)])])
            return old
        } catch {
            log("fleet: old audit entries were not deleted: \(error)")
            return 0
        }
    }
}
