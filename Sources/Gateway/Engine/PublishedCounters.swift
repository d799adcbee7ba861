import GatewayCore
import Synchronization

/// A loop's counters as of its last tick: the loop publishes, any thread reads. The loop's own
/// `LoopContext.counters` stay unsynchronised; only this copy, made once a tick, is shared.
final class PublishedCounters: Sendable {
    private let snapshot = Mutex(GatewayCounters())

    /// Copies `ctx`'s counters (with its live connection count) for readers.
    func publish(_ ctx: LoopContext) {
        var current = ctx.counters
        current.active = ctx.activeConnections
        snapshot.withLock { $0 = current }
    }

    /// The counters as last published.
    var value: GatewayCounters { snapshot.withLock { $0 } }
}
