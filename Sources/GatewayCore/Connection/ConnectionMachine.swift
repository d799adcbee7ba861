import Core

/// What a driver saw happen to a connection, besides bytes arriving (`ConnectionMachine.receive`,
/// which lends them): with those, the machine's only input besides the loop's clock.
package enum ConnectionEvent {
    /// A timer pass (idle, header, body and drain deadlines).
    case tick
    /// The fleet's desired state changed; `only` restricts the offer to one uid.
    case push(only: InstanceUID?)
    /// The agent with this uid must go now (its certificate was revoked).
    case disconnect(InstanceUID)
    /// The agent with this uid must reconnect elsewhere: this instance cannot record it (its
    /// database is out of reach).
    case release(InstanceUID)
    /// An operator's command for the agent with this uid.
    case command(InstanceUID, AgentCommand)
    /// The server is stopping.
    case shutdown
    /// Closed to make room under the loop's cap on half-open connections.
    case shed
    /// Everything the machine produced so far has been handed to the kernel.
    case flushed
    /// The driver released the connection (peer closed, error, or a `.close` carried out):
    /// sent exactly once, last.
    case closed
}

extension [UInt8] {
    /// Lends the array's bytes to `body` as a mutable span, for callers that hold their input in
    /// an array (tests and the fuzz harness; the engines lend their receive buffers directly).
    package mutating func lendingBytes<R>(_ body: (inout MutableRawSpan) -> R) -> R {
        var elements = mutableSpan
        var bytes = elements.mutableBytes
        return body(&bytes)
    }
}

/// What the driver must do after an event, besides sending the bytes appended to its output.
package enum ConnectionAction: Equatable {
    /// Nothing more.
    case none
    /// The connection is closing: send what is queued, then report `.flushed`.
    case finish
    /// Our last bytes are out: half-close the write side and read until EOF or the drain deadline
    /// (closing with unread input would turn the close into a reset that destroys the last reply).
    case shutdownWrite
    /// Release the socket now.
    case close
}

/// One agent connection's whole lifecycle, independent of how bytes arrive (io_uring, epoll,
/// or a test): HTTP/1.1 requests, the WebSocket upgrade, OpAMP messages on both transports,
/// timeouts, and the closing handshake. Events in, actions out; time comes from the loop's
/// injected clock (`LoopContext.now`). A value type kept in the driver's table; while idle it
/// owns no buffer. The rules it enforces are listed in docs/PROTOCOL.md.
package struct ConnectionMachine {
    enum Phase {
        case http(HTTPRequestParser)
        case websocket(WebSocketFrameParser, AgentSession)
        case closed
    }

    /// How far the connection is from being released.
    enum Closing: Equatable {
        case open
        /// Our close was decided at this time; the last bytes are still being sent.
        case flushing(since: UInt64)
        /// Our write side is shut since this time; waiting for the peer's EOF.
        case draining(since: UInt64)
    }

    /// Longest a peer may take to read our last bytes, then to close its side.
    package static let drainMilliseconds: UInt64 = 2_000

    var phase: Phase
    var closing = Closing.open
    /// Names this connection in `LiveAgents` (see `ConnectionToken`).
    package var token: UInt64
    var lastActivity: UInt64
    /// In the HTTP phase, when the deadline of the request in progress started: the accept or
    /// the first byte after the previous answer for its head, the end of the head for its
    /// body; 0 between keep-alive requests. Blank lines before a request line (RFC 9112 §2.2)
    /// are skipped by the parser but never move it: only a complete head or body does.
    var phaseSince: UInt64
    var claimedUID: InstanceUID?
    /// The peer's address folded to 64 bits (0: unknown), the key of its registration bucket.
    package var source: UInt64 = 0
    var deflate = false
    /// Counted in the loop's bound on connections still in the HTTP phase, until upgraded or
    /// until a plain-HTTP agent got its first answer (keep-alive pollers must not hold it).
    var countsAsHandshake = true
    /// This connection registered a new agent, so the limiter holds a bucket for it.
    var registeredAgents = false
    /// Bytes after an upgrade request in the same read are WebSocket frames.
    var isFreshUpgrade = false
    /// `sha256:` and the hex SHA-256 of the client certificate the TLS handshake verified
    /// (nil: none, or plain text); the identity a uid is bound to (see `AgentDirectory.bind`).
    package var peerIdentity: String?
    /// Hex SHA-256 of the enrollment token this connection showed (with `requireEnrollment`).
    var enrollmentToken: String?

    private init(token: UInt64, _ ctx: LoopContext) {
        phase = .http(HTTPRequestParser(limits: ctx.configuration.httpLimits))
        self.token = token
        lastActivity = ctx.now
        phaseSince = max(1, ctx.now)
    }

    private init() {
        phase = .http(HTTPRequestParser())
        token = 0
        lastActivity = 0
        phaseSince = 0
    }

    /// A placeholder for an empty slot of a driver's table: counted nowhere (unlike `accepted`),
    /// allocates nothing, and is never handed an event.
    package static var vacant: ConnectionMachine { ConnectionMachine() }

    /// A connection just accepted, counted in the loop: active, and handshaking until it
    /// upgrades or gets its first answer. Its `.closed` event undoes both.
    package static func accepted(token: UInt64, _ ctx: LoopContext) -> ConnectionMachine {
        ctx.counters.accepted += 1
        ctx.activeConnections += 1
        ctx.handshaking += 1
        return ConnectionMachine(token: token, ctx)
    }

    /// Whether the agent speaks WebSocket (pushes reach only these).
    package var isWebSocket: Bool {
        if case .websocket = phase { return true }
        return false
    }

    /// True while the connection counts in the loop's bound on half-open connections.
    package var isHalfOpen: Bool { countsAsHandshake && closing == .open }

    /// Bytes arrived: reads them (unmasking WebSocket payloads in place, hence mutable), appends
    /// bytes to send to `out`, says what else to do.
    package mutating func receive(_ input: inout MutableRawSpan, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionAction
    {
        // After our close was decided nothing more is read into the protocol (no frame after a Close).
        guard closing == .open else { return .none }
        return settle(read(&input, ctx, &out), ctx)
    }

    /// Every other input: applies `event`, appends bytes to send to `out`, says what else to do.
    package mutating func handle(_ event: ConnectionEvent, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionAction
    {
        switch event {
        case .tick:
            switch closing {
            case .open: return settle(tick(ctx, &out), ctx)
            case .flushing(let since), .draining(let since):
                // Past the limit the peer does not read (flushing) or does not close (draining).
                let limit = ctx.stopping ? Self.drainMilliseconds / 2 : Self.drainMilliseconds
                return ctx.now &- since > limit ? .close : .none
            }
        case .push(let only):
            guard closing == .open else { return .none }
            push(ctx, only: only, &out)
            return .none
        case .command(let uid, let command):
            guard closing == .open else { return .none }
            if command == .disconnect {
                return closeAgent(uid, code: .normal, reason: "disconnected by an operator", ctx, &out)
            }
            self.command(command, for: uid, ctx, &out)
            return .none
        case .disconnect(let uid):
            guard closing == .open else { return .none }
            let action = closeAgent(uid, code: .policyViolation, reason: "certificate revoked", ctx, &out)
            if action != .none { ctx.counters.revokedDisconnects += 1 }
            return action
        case .release(let uid):
            guard closing == .open else { return .none }
            let action = closeAgent(uid, code: .goingAway, reason: "this server cannot record agents now", ctx, &out)
            if action != .none { ctx.counters.released += 1 }
            return action
        case .shutdown:
            guard closing == .open else { return .none }
            return settle(shutdown(&out), ctx)
        case .shed:
            leaveHandshakes(ctx)
            ctx.counters.halfOpenShed += 1
            return .close
        case .flushed:
            guard case .flushing = closing else { return .none }
            closing = .draining(since: max(1, ctx.now))
            return .shutdownWrite
        case .closed:
            closed(ctx)
            return .none
        }
    }

    /// When the next timer pass needs this connection: an open WebSocket agent not before its
    /// idle deadline (traffic moves it later); nil for every pass (handshakes, HTTP exchanges,
    /// closing connections).
    package func deadline(_ ctx: LoopContext) -> UInt64? {
        guard isWebSocket, closing == .open else { return nil }
        return lastActivity &+ ctx.configuration.idleTimeoutMilliseconds &+ 1
    }

    /// Closes from outside the protocol (a TLS failure): nothing more is read or produced, what
    /// is queued is sent, then the usual half-close and drain.
    package mutating func closeAfterFlush(_ ctx: LoopContext) -> ConnectionAction {
        guard closing == .open else { return .none }
        return settle(.closeAfterFlush, ctx)
    }

    mutating func settle(_ verdict: Verdict, _ ctx: LoopContext) -> ConnectionAction {
        switch verdict {
        case .open: return .none
        case .closeNow: return .close
        case .closeAfterFlush:
            closing = .flushing(since: max(1, ctx.now))
            return .finish
        }
    }

    /// What a step of protocol logic decided.
    enum Verdict: Equatable {
        case open
        case closeAfterFlush
        case closeNow
    }

    mutating func leaveHandshakes(_ ctx: LoopContext) {
        guard countsAsHandshake else { return }
        countsAsHandshake = false
        ctx.handshaking -= 1
    }

    private mutating func read(_ input: inout MutableRawSpan, _ ctx: LoopContext, _ out: inout [UInt8]) -> Verdict {
        lastActivity = ctx.now
        var offset = 0
        while offset < input.byteCount || isFreshUpgrade {
            isFreshUpgrade = false
            switch phase {
            case .closed:
                return .closeNow
            case .http(var parser):
                // Taken out of `phase` first: a second reference would make every append to the
                // body copy it (quadratic in the body's size).
                phase = .closed
                let verdict = receiveHTTP(&parser, input.bytes, &offset, ctx, &out)
                if case .closed = phase { phase = .http(parser) }
                if verdict != .open { return verdict }
            case .websocket(var parser, var session):
                phase = .closed  // leave no copy behind while mutating (keeps buffers unique)
                let verdict = receiveWebSocket(&parser, &session, &input, &offset, ctx, &out)
                phase = .websocket(parser, session)
                return verdict
            }
        }
        return .open
    }
}
