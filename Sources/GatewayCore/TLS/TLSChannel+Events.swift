/// Events other than received bytes: the machine answers, and what it sends is sealed.
extension TLSChannel {
    /// Applies `event` through TLS: what the machine produces is encrypted into `out`.
    func handle(
        _ event: ConnectionEvent, _ machine: inout ConnectionMachine, _ ctx: LoopContext, _ loop: TLSLoop,
        _ out: inout [UInt8]
    ) -> ConnectionAction {
        switch event {
        case .closed, .shed, .flushed:
            var nothing: [UInt8] = []
            return machine.handle(event, ctx, &nothing)
        case .tick, .push, .disconnect, .release, .command, .shutdown:
            loop.plainOut.removeAll(keepingCapacity: true)
            let action = machine.handle(event, ctx, &loop.plainOut)
            return seal(action, loop, &out)
        }
    }
}
