import GatewayCore

/// What both drivers share about handing a connection its input: bytes and events reach the
/// connection's `AgentLink` the same way, and only `step` (where the link lives, how output is
/// sent, how an action is carried out) differs between io_uring and epoll.
protocol LinkDriver: AnyObject {
    /// How the driver names a connection (a fixed-file slot, a slab index).
    associatedtype Slot
    /// The loop's context.
    var ctx: LoopContext { get }
    /// Runs `apply` on the link in `slot` with the loop's output buffer, sends what it produced
    /// and carries out the action it returned.
    func step(_ slot: Slot, _ apply: (inout AgentLink, inout [UInt8]) -> ConnectionAction)
}

extension LinkDriver {
    /// Hands `event` to the connection in `slot`.
    @inline(__always)
    func deliver(_ event: ConnectionEvent, to slot: Slot) {
        step(slot) { $0.handle(event, ctx, &$1) }
    }

    /// Hands received bytes to the connection in `slot`.
    @inline(__always)
    func deliver(received input: inout MutableRawSpan, to slot: Slot) {
        step(slot) { $0.receive(&input, ctx, &$1) }
    }
}

extension URingLoop: LinkDriver {}
extension EpollLoop: LinkDriver {}
