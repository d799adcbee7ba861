import Core
import Glibc

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
    }
}

/// Plain-HTTP agents' sessions, touched once per poll under a lock (polls are seconds apart;
/// this is not the WebSocket hot path).
final class HTTPSessionStore: @unchecked Sendable {
    private let lock = Mutex()
    private var sessions: [InstanceUID: (session: AgentSession, lastSeen: UInt64)] = [:]

    /// Takes the agent's session out (the caller puts it back), so two loops never share one.
    func take(_ uid: InstanceUID) -> AgentSession? {
        lock.withLock { sessions.removeValue(forKey: uid)?.session }
    }

    func put(_ uid: InstanceUID, _ session: AgentSession, now: UInt64) {
        lock.withLock { sessions[uid] = (session, now) }
    }

    func expire(olderThan limit: UInt64, now: UInt64) {
        lock.withLock { sessions = sessions.filter { now &- $0.value.lastSeen < limit } }
    }
}

/// Which live WebSocket connection holds which uid, across loops (S11 duplicate detection).
/// Touched on a connection's first message and on close only, never per heartbeat.
final class LiveAgents: @unchecked Sendable {
    private let lock = Mutex()
    private var owners: [InstanceUID: UInt64] = [:]

    /// Claims `uid` for `token`; false when another live connection holds it.
    func claim(_ uid: InstanceUID, token: UInt64) -> Bool {
        lock.withLock {
            if let owner = owners[uid], owner != token { return false }
            owners[uid] = token
            return true
        }
    }

    /// The token of the connection holding `uid` (its top 16 bits name the loop).
    func owner(of uid: InstanceUID) -> UInt64? {
        lock.withLock { owners[uid] }
    }

    /// Releases `uid` if `token` holds it.
    func release(_ uid: InstanceUID, token: UInt64) {
        lock.withLock {
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
    var counters = GatewayCounters()
    var now: UInt64 = 0
    var activeConnections = 0
    var handshaking = 0
    let inflater: WebSocketInflater?

    init(
        configuration: GatewayConfiguration, directory: any AgentDirectory, live: LiveAgents,
        httpSessions: HTTPSessionStore, loopIndex: Int
    ) {
        self.configuration = configuration
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

    /// When overloaded, encodes the `UNAVAILABLE` answer (S6) and returns true.
    func answerIfOverloaded(_ session: AgentSession) -> Bool {
        guard isOverloaded else { return false }
        counters.overloadRejections += 1
        session.overloaded(retryAfterNanoseconds: configuration.retryAfterSeconds * 1_000_000_000).encode(into: &writer)
        return true
    }

    /// Publishes the counters for readers on other threads.
    func publish(into lock: Mutex, _ snapshot: inout GatewayCounters) {
        var current = counters
        current.active = activeConnections
        lock.withLock { snapshot = current }
    }

    /// True when this loop should turn agents away.
    var isOverloaded: Bool { activeConnections > configuration.maxConnectionsPerLoop }

    /// Forgets plain-HTTP agents that stopped polling (loop 0 does it for all).
    func expireHTTPSessions() {
        guard loopIndex == 0 else { return }
        httpSessions.expire(olderThan: configuration.idleTimeoutMilliseconds * 3, now: now)
    }
}
