import Core

/// The WebSocket phase: frames, OpAMP messages, duplicate uids and pushes.
extension ConnectionMachine {
    mutating func receiveWebSocket(
        _ parser: inout WebSocketFrameParser, _ session: inout AgentSession, _ input: inout MutableRawSpan,
        _ offset: inout Int, _ ctx: LoopContext, _ out: inout [UInt8]
    ) -> Verdict {
        while let event = parser.nextEvent(unmaskingInPlace: &input, from: &offset, inflater: ctx.inflater) {
            switch event {
            case .binary(let payload):
                opamp(payload, &session, ctx, &out)
            case .event(.binary(let payload)):
                opamp(payload.span.bytes, &session, ctx, &out)
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
    mutating func opamp(
        _ payload: RawSpan, _ session: inout AgentSession, _ ctx: LoopContext, _ out: inout [UInt8]
    ) {
        ctx.counters.messagesIn += 1
        ctx.writer.reset()
        ctx.writer.writeRaw(OpAMPWebSocketPayload.header)
        var duplicate = false
        do {
            let body = try OpAMPWebSocketPayload.body(of: payload)
            try AgentToServerView.decode(body) { view in
                let uid = InstanceUID(bytes: view.instanceUid)
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

    /// Sends an operator's command to the agent `uid` if this connection holds it.
    mutating func command(_ command: AgentCommand, for uid: InstanceUID, _ ctx: LoopContext, _ out: inout [UInt8]) {
        guard case .websocket(let parser, var session) = phase, session.instanceUID == uid else { return }
        phase = .closed
        defer { phase = .websocket(parser, session) }
        let reply: SessionReply? =
            switch command {
            case .restart: session.restart()
            case .reportFullState: session.requestFullState()
            case .reconcile: session.reoffer(ctx.directory.desiredState(for: uid))
            case .disconnect: nil
            case .custom(let message): session.customMessage(message)
            }
        guard let reply else { return }
        ctx.writer.reset()
        ctx.writer.writeRaw(OpAMPWebSocketPayload.header)
        reply.encode(into: &ctx.writer)
        Self.frame(ctx.writer.bytes, &out)
        ctx.counters.commands += 1
    }

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
}
