/// One TLS connection on a loop of its own, fed by hand: the entry point for the fuzz targets
/// (in a package of their own, so they reach only public API) into the code around OpenSSL.
public final class TLSConnectionHarness {
    private let ctx: LoopContext
    private let clock = ManualClock(1_000_000)
    private var link: AgentLink
    private var closed = false

    /// A connection just accepted by a server using `context`.
    public init(context: TLSContext) {
        var configuration = GatewayConfiguration()
        configuration.tls = context
        configuration.registrationsPerSecond = 0
        ctx = LoopContext(
            configuration: configuration, directory: InMemoryAgentDirectory(), live: LiveAgents(),
            httpSessions: HTTPSessionStore(), registrations: RegistrationLimiter(rate: 0, burst: 1), loopIndex: 0,
            clock: clock)
        link = .accepted(token: 1, ctx)
    }

    /// Hands `bytes` to the connection as one read; returns what it sent back (ciphertext) and
    /// whether it is closing. Nothing is read once it is.
    public func receive(_ bytes: [UInt8]) -> (sent: [UInt8], closing: Bool) {
        guard !closed else { return ([], true) }
        var input = bytes
        var out: [UInt8] = []
        let action = input.lendingBytes { link.receive(&$0, ctx, &out) }
        if action == .finish { _ = link.handle(.flushed, ctx, &out) }
        closed = action != .none
        return (out, closed)
    }

    /// Moves the clock on by `milliseconds` and runs the timers.
    public func tick(after milliseconds: UInt64) {
        guard !closed else { return }
        clock.set(clock.monotonicMilliseconds() + milliseconds)
        ctx.advance()
        var out: [UInt8] = []
        closed = link.handle(.tick, ctx, &out) != .none
    }

    deinit {
        var nothing: [UInt8] = []
        _ = link.handle(.closed, ctx, &nothing)
    }
}
