import Core

/// Timers, shutdown and the end of a connection.
extension ConnectionMachine {
    /// Applies the idle, header and body timeouts.
    mutating func tick(_ ctx: LoopContext, _ out: inout [UInt8]) -> Verdict {
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
    func bodyDeadline(_ parser: HTTPRequestParser, _ config: GatewayConfiguration) -> UInt64 {
        let bytes = UInt64(parser.declaredBodyBytes ?? config.httpLimits.maxBodyBytes)
        return config.bodyTimeoutMilliseconds + bytes * 1000 / max(1, config.minimumBodyBytesPerSecond)
    }

    /// Server shutdown: WebSocket agents get a 1001 close.
    mutating func shutdown(_ out: inout [UInt8]) -> Verdict {
        if case .websocket = phase {
            WebSocketFrameWriter.append(
                .close, payload: WebSocketFrameWriter.closePayload(code: .goingAway, reason: "server shutting down"),
                to: &out)
            return .closeAfterFlush
        }
        return .closeNow
    }

    /// Closes this WebSocket connection with `code` if it speaks for `uid` (an operator's
    /// disconnect, a revocation); `.none` when it does not.
    mutating func closeAgent(
        _ uid: InstanceUID, code: WebSocketCloseCode, reason: String, _ ctx: LoopContext, _ out: inout [UInt8]
    ) -> ConnectionAction {
        guard case .websocket(_, let session) = phase, session.instanceUID == uid else { return .none }
        WebSocketFrameWriter.append(
            .close, payload: WebSocketFrameWriter.closePayload(code: code, reason: reason), to: &out)
        return settle(.closeAfterFlush, ctx)
    }

    /// The connection is gone: record the agent as disconnected and free its uid.
    mutating func closed(_ ctx: LoopContext) {
        leaveHandshakes(ctx)
        ctx.counters.closed += 1
        ctx.activeConnections -= 1
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
        claimedUID = nil
        if registeredAgents { ctx.registrations.forget(connection: token) }
        registeredAgents = false
        phase = .closed
    }
}
