import Core

/// What the engine must do after a connection handled input or a timer.
enum ConnectionVerdict: Equatable {
    /// Keep the connection.
    case open
    /// Send what is queued, then close.
    case closeAfterFlush
    /// Close at once (nothing useful can be sent).
    case closeNow
}

/// One agent connection's protocol logic, independent of how bytes arrive (io_uring or
/// epoll): HTTP/1.1 requests, the WebSocket upgrade, OpAMP frames, timeouts. A value type
/// kept in the engine's slab; while idle it owns no buffer.
struct AgentConnection {
    enum Phase {
        case http(HTTPRequestParser)
        case websocket(WebSocketFrameParser, AgentSession)
        case closed
    }

    var phase: Phase
    /// Names this connection in `LiveAgents` (see `ConnectionToken`).
    var token: UInt64
    var lastActivity: UInt64
    /// In the HTTP phase, when the deadline of the request in progress started: the accept or
    /// the first byte after the previous answer for its head, the end of the head for its
    /// body; 0 between keep-alive requests. Blank lines before a request line (RFC 9112 §2.2)
    /// are skipped by the parser but never move it: only a complete head or body does.
    var phaseSince: UInt64
    var claimedUID: InstanceUID?
    /// The peer's address folded to 64 bits (0: unknown), the key of its registration bucket.
    var source: UInt64 = 0
    var deflate = false
    /// Counted in the loop's bound on connections still in the HTTP phase, until upgraded or
    /// until a plain-HTTP agent got its first answer (keep-alive pollers must not hold it).
    var countsAsHandshake = true
    /// This connection registered a new agent, so the limiter holds a bucket for it.
    var registeredAgents = false

    init(token: UInt64, now: UInt64, limits: HTTPLimits) {
        phase = .http(HTTPRequestParser(limits: limits))
        self.token = token
        lastActivity = now
        phaseSince = max(1, now)
    }

    var isWebSocket: Bool {
        if case .websocket = phase { return true }
        return false
    }

    /// Handles received bytes; replies are appended to `out`.
    mutating func receive(_ input: UnsafeMutableRawBufferPointer, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionVerdict
    {
        lastActivity = ctx.now
        var offset = 0
        while offset < input.count || isFreshUpgrade {
            isFreshUpgrade = false
            switch phase {
            case .closed:
                return .closeNow
            case .http(var parser):
                // Taken out of `phase` first: a second reference would make every append to the
                // body copy it (quadratic in the body's size).
                phase = .closed
                let verdict = receiveHTTP(&parser, input, &offset, ctx, &out)
                if case .closed = phase { phase = .http(parser) }
                if verdict != .open { return verdict }
            case .websocket(var parser, var session):
                phase = .closed  // leave no copy behind while mutating (keeps buffers unique)
                let verdict = receiveWebSocket(&parser, &session, input, &offset, ctx, &out)
                phase = .websocket(parser, session)
                return verdict
            }
        }
        return .open
    }

    private var isFreshUpgrade = false

    // MARK: HTTP

    private mutating func receiveHTTP(
        _ parser: inout HTTPRequestParser, _ input: UnsafeMutableRawBufferPointer, _ offset: inout Int,
        _ ctx: LoopContext, _ out: inout [UInt8]
    ) -> ConnectionVerdict {
        if phaseSince == 0 { phaseSince = max(1, ctx.now) }
        while offset < input.count {
            let wasInBody = parser.phase == .body
            let step = parser.feed(UnsafeRawBufferPointer(rebasing: input[offset...]))
            offset += step.consumed
            if !wasInBody && parser.phase == .body { phaseSince = max(1, ctx.now) }
            guard let event = step.event else { return .open }
            switch event {
            case .continueExpected:
                out.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
            case .error(let error):
                ctx.counters.httpErrors += 1
                Self.respond(error.status, text: error.reason, close: true, &out)
                return .closeAfterFlush
            case .request(let request):
                // The next request's deadline starts with its first byte.
                phaseSince = offset < input.count ? max(1, ctx.now) : 0
                let verdict = route(request, ctx, &out)
                if case .websocket = phase {
                    // Bytes after the upgrade request are WebSocket frames.
                    isFreshUpgrade = offset < input.count
                    return verdict
                }
                if verdict != .open { return verdict }
            }
        }
        return .open
    }

    private mutating func route(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8]) -> ConnectionVerdict {
        let isHead = request.method == "HEAD"
        guard request.path == "/v1/opamp" else {
            ctx.counters.httpErrors += 1
            Self.respond(
                .notFound, text: "OpAMP is served at /v1/opamp", close: !request.keepAlive, &out, omitBody: isHead)
            return request.keepAlive ? .open : .closeAfterFlush
        }
        if ctx.isOverloaded {
            ctx.counters.overloadRejections += 1
            Self.respond(
                .serviceUnavailable, text: "server overloaded", close: true, &out,
                extra: [("Retry-After", String(ctx.configuration.retryAfterSeconds))])
            return .closeAfterFlush
        }
        if request.isWebSocketUpgrade || request.method == "GET" {
            return upgrade(request, ctx, &out)
        }
        guard request.method == "POST" else {
            ctx.counters.httpErrors += 1
            // RFC 9110 §9.3.2: the answer to HEAD has the headers of the answer to GET, no body.
            Self.respond(
                .methodNotAllowed, text: "use POST or a WebSocket upgrade", close: !request.keepAlive, &out,
                extra: [("Allow", "GET, POST")], omitBody: isHead)
            return request.keepAlive ? .open : .closeAfterFlush
        }
        return plainHTTP(request, ctx, &out)
    }

    private mutating func upgrade(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8]) -> ConnectionVerdict
    {
        let handshake = WebSocketHandshakeRequest(
            method: request.method, httpVersion: request.version == .http11 ? "HTTP/1.1" : "HTTP/1.0",
            // Repeated lines joined (RFC 9110 §5.3): two Sec-WebSocket-Key lines then fail the key check.
            header: { request.headers.combinedValue($0) })
        switch WebSocketHandshake.respond(to: handshake, allowDeflate: ctx.configuration.allowWebSocketDeflate) {
        case .failure(let rejection):
            ctx.counters.httpErrors += 1
            out.append(contentsOf: rejection.response)
            return .closeAfterFlush
        case .success(let acceptance):
            out.append(contentsOf: acceptance.response)
            deflate = acceptance.deflate != nil
            let parser = WebSocketFrameParser(
                configuration: .init(maxMessageSize: ctx.configuration.maxMessageSize, permessageDeflate: deflate))
            phase = .websocket(parser, AgentSession(serverCapabilities: ctx.configuration.serverCapabilities))
            if countsAsHandshake {
                countsAsHandshake = false
                ctx.handshaking -= 1
            }
            phaseSince = ctx.now
            return .open
        }
    }

    /// H1–H6: one AgentToServer per POST, one ServerToAgent per response.
    private mutating func plainHTTP(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionVerdict
    {
        let close = !request.keepAlive
        guard request.mediaType == "application/x-protobuf" else {
            ctx.counters.httpErrors += 1
            Self.respond(.unsupportedMediaType, text: "Content-Type must be application/x-protobuf", close: close, &out)
            return close ? .closeAfterFlush : .open
        }
        var body = request.body
        if let encoding = request.contentEncoding?.lowercased(), encoding != "identity" {
            guard encoding == "gzip" else {
                ctx.counters.httpErrors += 1
                Self.respond(
                    .unsupportedMediaType, text: "Content-Encoding must be gzip or identity", close: close, &out)
                return close ? .closeAfterFlush : .open
            }
            switch Gzip.inflate(body, limit: ctx.configuration.maxMessageSize) {
            case .success(let inflated): body = inflated
            case .failure(.tooLarge):
                ctx.counters.httpErrors += 1
                Self.respond(.contentTooLarge, text: "message larger than the server's limit", close: true, &out)
                return .closeAfterFlush
            case .failure(.corrupt):
                ctx.counters.httpErrors += 1
                Self.respond(.badRequest, text: "corrupt gzip body", close: close, &out)
                return close ? .closeAfterFlush : .open
            }
        }
        ctx.counters.messagesIn += 1
        if countsAsHandshake {
            countsAsHandshake = false
            ctx.handshaking -= 1
        }
        let reply: [UInt8] = body.withUnsafeBytes { raw in
            OpAMPExchange.httpReply(raw, headerUID: request.opampInstanceUID, &self, ctx)
        }
        var headers: [(String, String)] = [("Content-Type", "application/x-protobuf")]
        var payload = reply
        if request.acceptsGzip && reply.count > 256 {
            payload = Gzip.deflate(reply)
            headers.append(("Content-Encoding", "gzip"))
        }
        if close { headers.append(("Connection", "close")) }
        HTTPResponse(status: .ok, headers: headers, contentLength: payload.count, version: request.version)
            .writeHead(into: &out)
        out.append(contentsOf: payload)
        return close ? .closeAfterFlush : .open
    }

    static func respond(
        _ status: HTTPStatus, text: String, close: Bool, _ out: inout [UInt8], extra: [(String, String)] = [],
        omitBody: Bool = false
    ) {
        var headers: [(String, String)] = [("Content-Type", "text/plain; charset=utf-8")] + extra
        if close { headers.append(("Connection", "close")) }
        let body = Array((text + "\n").utf8)
        HTTPResponse(status: status, headers: headers, contentLength: body.count).writeHead(into: &out)
        if !omitBody { out.append(contentsOf: body) }
    }

    // MARK: WebSocket

    private mutating func receiveWebSocket(
        _ parser: inout WebSocketFrameParser, _ session: inout AgentSession, _ input: UnsafeMutableRawBufferPointer,
        _ offset: inout Int, _ ctx: LoopContext, _ out: inout [UInt8]
    ) -> ConnectionVerdict {
        while let event = parser.nextEvent(unmaskingInPlace: input, from: &offset, inflater: ctx.inflater) {
            switch event {
            case .binary(let payload):
                opamp(payload, &session, ctx, &out)
            case .event(.binary(let payload)):
                payload.withUnsafeBytes { opamp($0, &session, ctx, &out) }
            case .text, .event(.text):
                ctx.counters.protocolErrors += 1
                WebSocketFrameWriter.append(
                    .close,
                    payload: WebSocketFrameWriter.closePayload(
                        code: .unsupportedData, reason: "OpAMP messages are binary"),
                    to: &out)
                return .closeAfterFlush
            case .event(.ping(let payload)):
                WebSocketFrameWriter.append(.pong, payload: payload, to: &out)
            case .event(.pong):
                break
            case .event(.close(let code, _)):
                // Echo the peer's code (or 1000), as the closing handshake asks.
                let echo = code.map { $0.isValidOnWire ? $0 : .normal } ?? .normal
                WebSocketFrameWriter.append(
                    .close, payload: WebSocketFrameWriter.closePayload(code: echo, reason: ""), to: &out)
                return .closeAfterFlush
            case .event(.protocolError(let code, let reason)):
                ctx.counters.protocolErrors += 1
                WebSocketFrameWriter.append(
                    .close, payload: WebSocketFrameWriter.closePayload(code: code, reason: reason), to: &out)
                return .closeAfterFlush
            }
        }
        return .open
    }

    /// One OpAMP message over WebSocket: decode in place, run the session, frame the reply.
    private mutating func opamp(
        _ payload: UnsafeRawBufferPointer, _ session: inout AgentSession, _ ctx: LoopContext, _ out: inout [UInt8]
    ) {
        ctx.counters.messagesIn += 1
        ctx.writer.reset()
        ctx.writer.writeRaw(OpAMPWebSocketPayload.header)
        let body: UnsafeRawBufferPointer
        do {
            body = try OpAMPWebSocketPayload.body(of: payload)
        } catch {
            ctx.counters.malformed += 1
            session.malformed(error).encode(into: &ctx.writer)
            Self.frame(ctx.writer.bytes, &out)
            return
        }
        var duplicate = false
        do {
            try AgentToServerView.decode(body) { view in
                let uid = InstanceUID(bytes: view.instanceUid.unsafeBytes)
                // Overload first: an agent turned away for it must not take room in the inventory.
                if ctx.answerIfOverloaded(session) { return }
                if let refusal = ctx.refusal(view, uid: uid, session: session, connection: &self) {
                    refusal.encode(into: &ctx.writer)
                    return
                }
                if let uid { ctx.restore(&session, uid: uid) }
                let desired =
                    uid.map {
                        session.isFresh
                            ? ctx.directory.desiredState(for: $0, firstMessage: view)
                            : ctx.directory.desiredState(for: $0)
                    } ?? DesiredState()
                let (reply, changes) = session.receive(view, desired: desired, uids: &ctx.uids)
                reply.encode(into: &ctx.writer)
                if let uid, claimedUID != uid {
                    if let old = claimedUID { ctx.live.release(old, token: token) }
                    claimedUID = nil
                    if ctx.live.claim(uid, token: token) {
                        claimedUID = uid
                    } else {
                        duplicate = true
                    }
                }
                // A duplicate's reports would interleave with the owner's under the same uid (S11).
                if let uid, claimedUID == uid {
                    if changes.isHeartbeatOnly {
                        ctx.directory.heartbeat(uid, loop: ctx.loopIndex)
                    } else {
                        ctx.directory.record(changes, loop: ctx.loopIndex)
                    }
                }
            }
        } catch {
            ctx.counters.malformed += 1
            session.malformed(error).encode(into: &ctx.writer)
        }
        Self.frame(ctx.writer.bytes, &out)
        if duplicate, let reply = session.reassignDuplicate(uids: &ctx.uids) {
            var changes = StatusChanges()
            changes.instanceUID = session.instanceUID
            changes.assignedInstanceUID = reply.newInstanceUID
            changes.resolvedDuplicate = true
            ctx.directory.record(changes, loop: ctx.loopIndex)
            // S11: the newer connection of a duplicated uid gets a fresh one.
            ctx.writer.reset()
            ctx.writer.writeRaw(OpAMPWebSocketPayload.header)
            reply.encode(into: &ctx.writer)
            Self.frame(ctx.writer.bytes, &out)
        }
    }

    static func frame(_ payload: [UInt8], _ out: inout [UInt8]) {
        WebSocketFrameWriter.append(.binary, payload: payload, to: &out)
    }

    // MARK: Pushes

    /// Offers the agent what the fleet now wants (S12 unsolicited push over WebSocket); `only`
    /// restricts it to one uid. Plain-HTTP agents get it in their next poll's reply instead.
    mutating func push(_ ctx: LoopContext, only: InstanceUID?, _ out: inout [UInt8]) {
        guard case .websocket(let parser, var session) = phase, let uid = session.instanceUID else { return }
        if let only, only != uid { return }
        phase = .closed
        defer { phase = .websocket(parser, session) }
        guard let reply = session.push(ctx.directory.desiredState(for: uid)) else { return }
        ctx.writer.reset()
        ctx.writer.writeRaw(OpAMPWebSocketPayload.header)
        reply.encode(into: &ctx.writer)
        Self.frame(ctx.writer.bytes, &out)
        ctx.counters.pushes += 1
    }

    // MARK: Timers and shutdown

    /// For a WebSocket connection, the earliest time `tick` could close it (traffic moves it
    /// later); nil while other limits apply.
    func idleDeadline(_ ctx: LoopContext) -> UInt64? {
        guard isWebSocket else { return nil }
        return lastActivity &+ ctx.configuration.idleTimeoutMilliseconds &+ 1
    }

    /// Applies the idle, header and body timeouts.
    mutating func tick(_ ctx: LoopContext, _ out: inout [UInt8]) -> ConnectionVerdict {
        let config = ctx.configuration
        switch phase {
        case .closed:
            return .closeNow
        case .http(let parser):
            switch parser.phase {
            case .idle where phaseSince == 0:
                // Between keep-alive requests: a poller that went quiet is let go silently.
                guard
                    ctx.now &- lastActivity
                        > min(config.idleTimeoutMilliseconds, config.headerTimeoutMilliseconds * 3)
                else { return .open }
                ctx.counters.timeouts += 1
                return .closeNow
            case .idle, .head:
                guard ctx.now &- phaseSince > config.headerTimeoutMilliseconds else { return .open }
            case .body:
                guard ctx.now &- phaseSince > bodyDeadline(parser, config) else { return .open }
            case .failed:
                return .open
            }
            ctx.counters.timeouts += 1
            Self.respond(.requestTimeout, text: "request not completed in time", close: true, &out)
            return .closeAfterFlush
        case .websocket:
            guard ctx.now &- lastActivity > config.idleTimeoutMilliseconds else { return .open }
            ctx.counters.timeouts += 1
            WebSocketFrameWriter.append(
                .close, payload: WebSocketFrameWriter.closePayload(code: .goingAway, reason: "idle timeout"), to: &out)
            return .closeAfterFlush
        }
    }

    /// Milliseconds a body may take: the body timeout plus its size at the slowest allowed rate.
    private func bodyDeadline(_ parser: HTTPRequestParser, _ config: GatewayConfiguration) -> UInt64 {
        let bytes = UInt64(parser.declaredBodyBytes ?? config.httpLimits.maxBodyBytes)
        return config.bodyTimeoutMilliseconds + bytes * 1000 / max(1, config.minimumBodyBytesPerSecond)
    }

    /// True while the connection counts in the loop's bound on half-open connections.
    var isHalfOpen: Bool { countsAsHandshake }

    /// Closed to make room under the cap on half-open connections (see `HalfOpenQueue`).
    mutating func shed(_ ctx: LoopContext) -> ConnectionVerdict {
        if countsAsHandshake {
            countsAsHandshake = false
            ctx.handshaking -= 1
        }
        ctx.counters.halfOpenShed += 1
        return .closeNow
    }

    /// Server shutdown: WebSocket agents get a 1001 close.
    mutating func shutdown(_ out: inout [UInt8]) -> ConnectionVerdict {
        if case .websocket = phase {
            WebSocketFrameWriter.append(
                .close, payload: WebSocketFrameWriter.closePayload(code: .goingAway, reason: "server shutting down"),
                to: &out)
            return .closeAfterFlush
        }
        return .closeNow
    }

    /// The connection is gone: record the agent as disconnected and free its uid.
    mutating func closed(_ ctx: LoopContext) {
        if countsAsHandshake {
            countsAsHandshake = false
            ctx.handshaking -= 1
        }
        // Only the connection that holds the uid speaks for that agent (a duplicate does not).
        if case .websocket(_, let session) = phase, let uid = session.instanceUID, claimedUID == uid {
            if !session.isDisconnected {
                var changes = StatusChanges()
                changes.instanceUID = uid
                changes.disconnected = true
                ctx.directory.record(changes, loop: ctx.loopIndex)
            }
        }
        if let uid = claimedUID { ctx.live.release(uid, token: token) }
        if registeredAgents { ctx.registrations.forget(connection: token) }
        phase = .closed
    }
}

extension WebSocketFrameWriter {
    /// Appends a frame whose payload is an array.
    static func append(_ opcode: WebSocketOpcode, payload: [UInt8], to out: inout [UInt8]) {
        payload.withUnsafeBytes { append(opcode, payload: $0, to: &out) }
    }
}
