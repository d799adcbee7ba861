import Core

/// The plain-HTTP transport's OpAMP step: sessions live in the loop, keyed by uid, because an
/// agent may poll over a new TCP connection each time.
enum OpAMPExchange {
    /// Plain HTTP may multiplex agents: each POST names its own agent (a fan-in gateway polls for
    /// many over one connection), so sessions are found by uid, not by connection.
    static func httpReply(
        _ body: RawSpan, headerUID: String?, _ connection: inout ConnectionMachine, _ ctx: LoopContext
    ) -> [UInt8] {
        ctx.writer.reset()
        do {
            try AgentToServerView.decode(body) { view in
                guard
                    let uid = InstanceUID(bytes: view.instanceUid)
                        ?? headerUID.flatMap(InstanceUID.init(string:))
                else {
                    var session = AgentSession(serverCapabilities: ctx.configuration.serverCapabilities)
                    session.receive(view, desired: DesiredState(), uids: &ctx.uids).reply.encode(into: &ctx.writer)
                    return
                }
                var session =
                    ctx.httpSessions.take(uid)
                    ?? AgentSession(serverCapabilities: ctx.configuration.serverCapabilities)
                // Overload first: an agent turned away for it must not take room in the inventory.
                var refused = ctx.answerIfOverloaded(session)
                // A poll on a keep-alive connection whose certificate was revoked since its handshake.
                if !refused, let identity = connection.peerIdentity, ctx.directory.isRevoked(identity: identity) {
                    ctx.counters.revokedDisconnects += 1
                    session.refused("the client certificate was revoked", uid: uid).encode(into: &ctx.writer)
                    refused = true
                }
                if !refused, let refusal = ctx.refusal(view, uid: uid, session: session, connection: &connection) {
                    refusal.encode(into: &ctx.writer)
                    refused = true
                }
                if refused {
                    if !session.isFresh { ctx.httpSessions.put(uid, session, now: ctx.now) }
                    return
                }
                ctx.restore(&session, uid: uid)
                if InstanceUID(bytes: view.instanceUid) == nil { session.assume(uid) }
                let desired =
                    session.isFresh
                    ? ctx.directory.desiredState(for: uid, firstMessage: view) : ctx.directory.desiredState(for: uid)
                var (reply, changes) = session.receive(view, desired: desired, uids: &ctx.uids)
                if reply.errorResponse == nil, !session.isDisconnected {
                    deliverCommands(&reply, &session, uid: uid, desired: desired, ctx)
                }
                reply.encode(into: &ctx.writer)
                if !session.isDisconnected { ctx.httpSessions.put(uid, session, now: ctx.now) }
                if !changes.isHeartbeatOnly {
                    ctx.directory.record(changes, loop: ctx.loopIndex)
                } else {
                    ctx.directory.heartbeat(uid, loop: ctx.loopIndex)
                }
            }
        } catch {
            ctx.counters.malformed += 1
            var session = AgentSession(serverCapabilities: ctx.configuration.serverCapabilities)
            session.malformed(error).encode(into: &ctx.writer)
        }
        return ctx.writer.bytes
    }

    /// Adds the operators' waiting commands to this poll's reply; a second custom message
    /// waits for the next poll (a reply carries one).
    private static func deliverCommands(
        _ reply: inout SessionReply, _ session: inout AgentSession, uid: InstanceUID, desired: DesiredState,
        _ ctx: LoopContext
    ) {
        let waiting = ctx.httpSessions.takeCommands(uid)
        guard !waiting.isEmpty else { return }
        var left: [AgentCommand] = []
        for command in waiting {
            if case .custom = command, reply.customMessage != nil {
                left.append(command)
                continue
            }
            let extra: SessionReply? =
                switch command {
                case .restart: session.restart()
                case .reportFullState: session.requestFullState()
                case .reconcile: session.reoffer(desired)
                case .disconnect: nil
                case .custom(let message): session.customMessage(message)
                }
            guard let extra else { continue }
            reply.absorb(extra)
            ctx.counters.commands += 1
        }
        ctx.httpSessions.requeue(left, for: uid)
    }
}
