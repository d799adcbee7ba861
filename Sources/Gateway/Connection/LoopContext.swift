import Core
import Glibc
import Synchronization

/// Counters one loop keeps without synchronisation; the server sums them on demand.
public struct GatewayCounters: Sendable {
    /// Connections open now.
    public var active = 0
    /// Connections accepted.
    public var accepted = 0
    /// Connections closed.
    public var closed = 0
    /// OpAMP messages received (both transports).
    public var messagesIn = 0
    /// Messages answered with BAD_REQUEST.
    public var malformed = 0
    /// Connections closed for a WebSocket protocol error (1002/1003/1007/1009).
    public var protocolErrors = 0
    /// HTTP requests refused with 4xx/5xx by the parser or router.
    public var httpErrors = 0
    /// Agents refused or told to come back later because of overload.
    public var overloadRejections = 0
    /// Consumers too slow to drain their send queue, disconnected.
    public var slowConsumers = 0
    /// Connections closed by the idle, header or body timeout.
    public var timeouts = 0
    /// Unsolicited pushes sent (remote config, connection settings, packages).
    public var pushes = 0
    /// Half-open connections closed to make room for new ones at the per-loop cap.
    public var halfOpenShed = 0
    /// Messages refused because their description had too many attributes.
    public var rejectedTooManyAttributes = 0
    /// New agents turned away by the registration rate limit.
    public var rejectedRegistrationRate = 0
    /// New agents turned away because the inventory is full (`--max-agents`).
    public var rejectedInventoryFull = 0
    /// Plain-HTTP agents marked disconnected because they stopped polling.
    public var httpAgentsExpired = 0

    /// Adds another loop's counters.
    public mutating func add(_ o: GatewayCounters) {
        active += o.active
        accepted += o.accepted
        closed += o.closed
        messagesIn += o.messagesIn
        malformed += o.malformed
        protocolErrors += o.protocolErrors
        httpErrors += o.httpErrors
        overloadRejections += o.overloadRejections
        slowConsumers += o.slowConsumers
        timeouts += o.timeouts
        pushes += o.pushes
        halfOpenShed += o.halfOpenShed
        rejectedTooManyAttributes += o.rejectedTooManyAttributes
        rejectedRegistrationRate += o.rejectedRegistrationRate
        rejectedInventoryFull += o.rejectedInventoryFull
        httpAgentsExpired += o.httpAgentsExpired
    }
}

/// Plain-HTTP agents' sessions, touched once per poll under a lock (polls are seconds apart;
/// this is not the WebSocket hot path).
final class HTTPSessionStore: Sendable {
    private let sessions = Mutex<[InstanceUID: (session: AgentSession, lastSeen: UInt64)]>([:])

    /// Takes the agent's session out (the caller puts it back), so two loops never share one.
    func take(_ uid: InstanceUID) -> AgentSession? {
        sessions.withLock { $0.removeValue(forKey: uid)?.session }
    }

    func put(_ uid: InstanceUID, _ session: AgentSession, now: UInt64) {
        sessions.withLock { $0[uid] = (session, now) }
    }

    /// Forgets sessions not polled within `limit` and returns their uids (still connected
    /// ones, which the fleet must now mark disconnected).
    func expire(olderThan limit: UInt64, now: UInt64) -> [InstanceUID] {
        sessions.withLock { sessions in
            var expired: [InstanceUID] = []
            sessions = sessions.filter { entry in
                if now &- entry.value.lastSeen < limit { return true }
                expired.append(entry.key)
                return false
            }
            return expired
        }
    }

    /// Sessions held now.
    var count: Int { sessions.withLock { $0.count } }
}

/// Which live WebSocket connection holds which uid, across loops (S11 duplicate detection).
/// Touched on a connection's first message and on close only, never per heartbeat.
final class LiveAgents: Sendable {
    private let owners = Mutex<[InstanceUID: UInt64]>([:])

    /// Claims `uid` for `token`; false when another live connection holds it.
    func claim(_ uid: InstanceUID, token: UInt64) -> Bool {
        owners.withLock { owners in
            if let owner = owners[uid], owner != token { return false }
            owners[uid] = token
            return true
        }
    }

    /// The token of the connection holding `uid` (its top 16 bits name the loop).
    func owner(of uid: InstanceUID) -> UInt64? {
        owners.withLock { $0[uid] }
    }

    /// Releases `uid` if `token` holds it.
    func release(_ uid: InstanceUID, token: UInt64) {
        owners.withLock { owners in
            if owners[uid] == token { owners[uid] = nil }
        }
    }
}

/// What every connection of one event loop shares; used from that loop's thread only.
final class LoopContext {
    let configuration: GatewayConfiguration
    let directory: any AgentDirectory
    let live: LiveAgents
    let loopIndex: Int
    var uids: UUIDv7Generator<SystemRandomNumberGenerator>
    /// Reply encoding scratch, reused for every message of the loop.
    var writer = ProtoWriter(capacity: 64 * 1024)
    /// Sessions of plain-HTTP agents, shared by all loops: each poll may arrive on a new TCP
    /// connection, and so on any loop.
    let httpSessions: HTTPSessionStore
    /// Bounds on new-agent registrations, shared by every loop (registrations only, not heartbeats).
    let registrations: RegistrationLimiter
    /// This loop's half-open connections, oldest first.
    var halfOpen = HalfOpenQueue()
    var counters = GatewayCounters()
    var now: UInt64 = 0
    var activeConnections = 0
    var handshaking = 0
    private var lastHTTPExpiry: UInt64 = 0
    let inflater: WebSocketInflater?

    init(
        configuration: GatewayConfiguration, directory: any AgentDirectory, live: LiveAgents,
        httpSessions: HTTPSessionStore, registrations: RegistrationLimiter, loopIndex: Int
    ) {
        self.configuration = configuration
        self.registrations = registrations
        self.httpSessions = httpSessions
        self.directory = directory
        self.live = live
        self.loopIndex = loopIndex
        self.uids = UUIDv7Generator(now: { Sys.unixMilliseconds() }, rng: SystemRandomNumberGenerator())
        self.inflater = configuration.allowWebSocketDeflate ? WebSocketInflater() : nil
    }

    /// Seeds a new session with what the fleet already holds for `uid`.
    func restore(_ session: inout AgentSession, uid: InstanceUID) {
        if session.isFresh, let known = directory.knownState(for: uid) {
            session.restore(held: known.held, lastSequenceNum: known.lastSequenceNum)
        }
    }

    /// The answer to a message this server will not process: a description over the attribute
    /// cap (`BAD_REQUEST`), or a new agent over the registration rate or inventory bound
    /// (`UNAVAILABLE` with `RetryInfo`); nil to go on. Known agents pay one lookup, on their
    /// connection's first message (and on a switch to an assigned uid) only.
    func refusal(
        _ view: AgentToServerView, uid: InstanceUID?, session: AgentSession, connection: inout AgentConnection
    ) -> SessionReply? {
        if let description = view.agentDescription {
            let limit = configuration.maxAttributesPerDescription
            let count = Self.attributeCount(description, stopAfter: limit)
            if count > limit {
                counters.rejectedTooManyAttributes += 1
                return session.refused(
                    "agent_description has more than \(limit) attributes (this server's --max-attributes)", uid: uid)
            }
        }
        // Only a uid the session will speak for can register: the connection's first, or the
        // one this server assigned it (S26, S27 refuse the rest, which must not take room).
        guard let uid, !session.isDisconnected, uid != session.instanceUID,
            session.instanceUID == nil || uid == session.assignedUID, !directory.isKnown(uid)
        else { return nil }
        let retry = configuration.retryAfterSeconds * 1_000_000_000
        guard registrations.admit(source: connection.source, connection: connection.token, now: now) else {
            counters.rejectedRegistrationRate += 1
            return session.unavailable(
                "too many new agents from this address or connection, retry later", uid: uid,
                retryAfterNanoseconds: retry)
        }
        connection.registeredAgents = true
        guard directory.register(uid) else {
            counters.rejectedInventoryFull += 1
            return session.unavailable(
                "the server's inventory is full (--max-agents), retry later", uid: uid, retryAfterNanoseconds: retry)
        }
        return nil
    }

    /// Identifying plus non-identifying attributes, counted up to `stopAfter + 1`.
    static func attributeCount(_ description: AgentDescriptionView, stopAfter limit: Int) -> Int {
        var count = 0
        for _ in description.identifyingAttributes {
            count += 1
            if count > limit { return count }
        }
        for _ in description.nonIdentifyingAttributes {
            count += 1
            if count > limit { return count }
        }
        return count
    }

    /// When overloaded, encodes the `UNAVAILABLE` answer (S6) and returns true.
    func answerIfOverloaded(_ session: AgentSession) -> Bool {
        guard isOverloaded else { return false }
        counters.overloadRejections += 1
        session.overloaded(retryAfterNanoseconds: configuration.retryAfterSeconds * 1_000_000_000).encode(into: &writer)
        return true
    }

    /// Publishes the counters for readers on other threads.
    func publish(into lock: Lock, _ snapshot: inout GatewayCounters) {
        var current = counters
        current.active = activeConnections
        lock.withLock { snapshot = current }
    }

    /// True when this loop should turn agents away.
    var isOverloaded: Bool { activeConnections > configuration.maxConnectionsPerLoop }

    /// Forgets plain-HTTP agents that stopped polling within their interval plus grace and
    /// tells the fleet they are disconnected (loop 0 does it for all).
    func expireHTTPSessions() {
        guard loopIndex == 0, now &- lastHTTPExpiry >= min(10_000, configuration.httpAgentTimeoutMilliseconds / 4)
        else { return }
        lastHTTPExpiry = now
        for uid in httpSessions.expire(olderThan: configuration.httpAgentTimeoutMilliseconds, now: now) {
            var changes = StatusChanges()
            changes.instanceUID = uid
            changes.disconnected = true
            directory.record(changes, loop: loopIndex)
            counters.httpAgentsExpired += 1
        }
    }
}
