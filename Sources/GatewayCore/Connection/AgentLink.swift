/// One accepted connection as a driver holds it: the `ConnectionMachine`, behind a TLS session
/// when the listener speaks TLS. Drivers hand it the same events either way, so TLS is written
/// once, here and in `TLSChannel`, for every engine.
package struct AgentLink {
    package var machine: ConnectionMachine
    private var tls: TLSChannel?
    /// The listener speaks TLS but no session could be made (OpenSSL out of memory).
    private var tlsUnavailable = false

    /// A connection just accepted (see `ConnectionMachine.accepted`).
    package static func accepted(token: UInt64, _ ctx: LoopContext) -> AgentLink {
        var link = AgentLink(machine: .accepted(token: token, ctx))
        if let loop = ctx.tls {
            link.tls = TLSChannel(loop)
            link.tlsUnavailable = link.tls == nil
        }
        return link
    }

    /// A placeholder for an empty slot of a driver's table: never handed an event.
    package static var vacant: AgentLink { AgentLink(machine: .vacant) }

    private init(machine: ConnectionMachine) {
        self.machine = machine
    }

    /// Names the connection in `LiveAgents`.
    package var token: UInt64 {
        get { machine.token }
        set { machine.token = newValue }
    }

    /// The peer's address key (see `ConnectionMachine.source`).
    package var source: UInt64 {
        get { machine.source }
        set { machine.source = newValue }
    }

    /// See `ConnectionMachine.isHalfOpen`.
    package var isHalfOpen: Bool { machine.isHalfOpen }

    /// See `ConnectionMachine.deadline`.
    package func deadline(_ ctx: LoopContext) -> UInt64? { machine.deadline(ctx) }

    /// See `ConnectionMachine.receive`: the same contract, with TLS in between when it is on.
    package mutating func receive(_ input: inout MutableRawSpan, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionAction
    {
        if let tls, let loop = ctx.tls { return tls.receive(input.bytes, &machine, ctx, loop, &out) }
        // Nothing may be read without TLS.
        if tlsUnavailable { return .close }
        return machine.receive(&input, ctx, &out)
    }

    /// See `ConnectionMachine.handle`: the same contract, with TLS in between when it is on.
    package mutating func handle(_ event: ConnectionEvent, _ ctx: LoopContext, _ out: inout [UInt8])
        -> ConnectionAction
    {
        if let tls, let loop = ctx.tls { return tls.handle(event, &machine, ctx, loop, &out) }
        if tlsUnavailable {
            // Nothing may be read or sent without TLS; the release still reaches the machine.
            guard case .closed = event else { return .close }
        }
        return machine.handle(event, ctx, &out)
    }
}
