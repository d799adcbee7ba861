import Synchronization

/// The one owner of the fleet's counters: the ingest thread, the writer and operator calls all
/// update them here, so no update is lost to another written under a different lock.
final class FleetCounters: Sendable {
    private let state = Mutex(FleetMetrics())

    /// The counters as they are now (the backlog and inventory gauges are filled in by their owners).
    var snapshot: FleetMetrics { state.withLock { $0 } }

    /// True while database writes succeed.
    var storeHealthy: Bool { state.withLock { $0.storeHealthy } }

    /// Applies one change to the counters.
    func update(_ body: (inout FleetMetrics) -> Void) {
        state.withLock { body(&$0) }
    }
}
