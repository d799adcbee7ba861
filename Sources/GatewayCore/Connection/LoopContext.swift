import Core

/// What every connection of one event loop shares; used from that loop's thread only.
package final class LoopContext {
    package let configuration: GatewayConfiguration
    package let directory: any AgentDirectory
    package let live: LiveAgents
    package let loopIndex: Int
    package var uids: UUIDv7Generator<SystemRandomNumberGenerator>
    /// Reply encoding scratch, reused for every message of the loop.
    package var writer = ProtoWriter(capacity: 64 * 1024)
    /// Sessions of plain-HTTP agents, shared by all loops: each poll may arrive on a new TCP
    /// connection, and so on any loop.
    package let httpSessions: HTTPSessionStore
    /// Bounds on new-agent registrations, shared by every loop (registrations only, not heartbeats).
    package let registrations: RegistrationLimiter
    /// This loop's half-open connections, oldest first.
    package var halfOpen = HalfOpenQueue()
    package var counters = GatewayCounters()
    /// Where time comes from: the system's clocks in a server, a hand-set one in tests.
    package let clock: any GatewayClock
    /// The loop's time in monotonic milliseconds, read once per loop turn (`advance`).
    package var now: UInt64
    /// The server is stopping: closing connections get half the usual drain time.
    package var stopping = false
    package var activeConnections = 0
    package var handshaking = 0
    private var lastHTTPExpiry: UInt64 = 0
    package let inflater: WebSocketInflater?
    /// The loop's TLS buffers when the agent listener speaks TLS.
    package let tls: TLSLoop?

    package init(
        configuration: GatewayConfiguration, directory: any AgentDirectory, live: LiveAgents,
        httpSessions: HTTPSessionStore, registrations: RegistrationLimiter, loopIndex: Int,
        clock: any GatewayClock
    ) {
        self.configuration = configuration
        self.registrations = registrations
        self.httpSessions = httpSessions
        self.directory = directory
        self.live = live
        self.loopIndex = loopIndex
        self.clock = clock
        self.now = clock.monotonicMilliseconds()
        self.uids = UUIDv7Generator(now: { clock.unixMilliseconds() }, rng: SystemRandomNumberGenerator())
        self.inflater = configuration.allowWebSocketDeflate ? WebSocketInflater() : nil
        self.tls = configuration.tls.map(TLSLoop.init)
    }

    /// Seeds a new session with what the fleet already holds for `uid`.
    package func restore(_ session: inout AgentSession, uid: InstanceUID) {
        if session.isFresh, let known = directory.knownState(for: uid) {
            session.restore(known)
        }
    }

    /// The answer to a message this server will not process: a description over the attribute
    /// cap (`BAD_REQUEST`), or a new agent over the registration rate or inventory bound
    /// (`UNAVAILABLE` with `RetryInfo`); nil to go on. Known agents pay one lookup, on their
    /// connection's first message (and on a switch to an assigned uid) only.
    package func refusal(
        _ view: AgentToServerView, uid: InstanceUID?, session: AgentSession, connection: inout ConnectionMachine
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
        // An agent an operator revoked is refused whatever certificate or token it presents
        // (T4 in docs/PROTOCOL.md): checked once per uid per WebSocket connection and on every
        // plain-HTTP POST, like the binding below. A WebSocket that already speaks for the uid
        // is closed by the revocation itself, so no message takes the directory's lock for it.
        if let uid, uid != connection.claimedUID, directory.isRevoked(uid: uid) {
            counters.rejectedRevoked += 1
            return session.refused("this agent was revoked by an operator", uid: uid)
        }
        // A uid proven by one client certificate cannot be taken over with another (the
        // first connection of a uid binds it; HTTP polls are checked each time).
        // An agent that enrolled with a token (and no certificate) is bound to the token.
        if let uid, let identity = connection.peerIdentity ?? connection.enrollmentToken.map({ "token:" + $0 }),
            uid != connection.claimedUID, !directory.bind(uid, identity: identity)
        {
            counters.rejectedIdentity += 1
            return session.refused("instance_uid is bound to another client certificate or token", uid: uid)
        }
        if let refused = registration(uid, session: session, connection: &connection) { return refused }
        // S17: a CSR is signed before the reply is made, so the reply already offers the
        // certificate (through the agent's desired state). The capability is checked first: a
        // server without a CA does not scan every message for the field.
        if configuration.serverCapabilities.contains(.acceptsConnectionSettingsRequest), let uid,
            let request = view.connectionSettingsRequest?.opamp?.certificateRequest
        {
            let caps =
                view.capabilities != 0 ? AgentCapabilities(rawValue: view.capabilities) : session.agentCapabilities
            guard caps.contains(.acceptsOpAMPConnectionSettings) else {
                counters.certificateRequestsRefused += 1
                return session.refused(
                    "a certificate_request needs the AcceptsOpAMPConnectionSettings capability", uid: uid)
            }
            if let why = directory.certificateRequest(uid, csr: request.csr.array) {
                counters.certificateRequestsRefused += 1
                return session.refused(why, uid: uid)
            }
            counters.certificatesIssued += 1
        }
        return nil
    }

    /// A new agent's admission: the registration rate, its enrollment token and room in the
    /// inventory; nil when admitted or not new.
    private func registration(_ uid: InstanceUID?, session: AgentSession, connection: inout ConnectionMachine)
        -> SessionReply?
    {
        // Only a uid the session will speak for can register: the connection's first, or the
        // one this server assigned it (S26, S27 refuse the rest, which must not take room).
        guard let uid, !session.isDisconnected, uid != session.instanceUID,
            session.instanceUID == nil || uid == session.assignedUID
        else { return nil }
        let retry = configuration.retryAfterSeconds * 1_000_000_000
        guard directory.isAdmitting() else {
            counters.rejectedCutOff += 1
            return session.unavailable(
                "this server cannot record agents now (its database is out of reach), retry later", uid: uid,
                retryAfterNanoseconds: retry)
        }
        guard !directory.isKnown(uid) else { return nil }
        guard registrations.admit(source: connection.source, connection: connection.token, now: now) else {
            counters.rejectedRegistrationRate += 1
            return session.unavailable(
                "too many new agents from this address or connection, retry later", uid: uid,
                retryAfterNanoseconds: retry)
        }
        connection.registeredAgents = true
        if let token = connection.enrollmentToken, !directory.enroll(uid, tokenHash: token) {
            counters.enrollmentRefused += 1
            return session.refused("the enrollment token has no uses left for a new agent", uid: uid)
        }
        guard directory.register(uid) else {
            counters.rejectedInventoryFull += 1
            return session.unavailable(
                "the server's inventory is full (--max-agents), retry later", uid: uid, retryAfterNanoseconds: retry)
        }
        return nil
    }

    /// Identifying plus non-identifying attributes, counted up to `stopAfter + 1`.
    package static func attributeCount(_ description: AgentDescriptionView, stopAfter limit: Int) -> Int {
        var count = 0
        var identifying = description.identifyingAttributes.makeIterator()
        while identifying.next() != nil {
            count += 1
            if count > limit { return count }
        }
        var nonIdentifying = description.nonIdentifyingAttributes.makeIterator()
        while nonIdentifying.next() != nil {
            count += 1
            if count > limit { return count }
        }
        return count
    }

    /// When overloaded, encodes the `UNAVAILABLE` answer (S6) and returns true.
    package func answerIfOverloaded(_ session: AgentSession) -> Bool {
        guard isOverloaded else { return false }
        counters.overloadRejections += 1
        session.overloaded(retryAfterNanoseconds: configuration.retryAfterSeconds * 1_000_000_000).encode(into: &writer)
        return true
    }

    /// Reads the clock: once per loop turn, so every event of a turn sees the same time.
    package func advance() {
        now = clock.monotonicMilliseconds()
    }

    /// True when this loop should turn agents away.
    package var isOverloaded: Bool { activeConnections > configuration.maxConnectionsPerLoop }

    /// Forgets plain-HTTP agents that stopped polling within their interval plus grace and
    /// tells the fleet they are disconnected (loop 0 does it for all).
    package func expireHTTPSessions() {
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
