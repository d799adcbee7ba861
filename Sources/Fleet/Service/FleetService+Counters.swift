import Foundation

extension FleetService {
    // MARK: Counters

    /// Counters for /metrics.
    public var metrics: FleetMetrics {
        var m = counters.snapshot
        writer.machine.withLock { w in
            m.backlogAgents = w.pending.agents.count
            m.backlogTouches = w.pending.touches.count
            m.backlogHistory = w.pending.history.count
        }
        m.agentsKnown = inventory.counts.known
        // This instance's connections: summed over instances, the fleet's.
        m.agentsConnected = inventory.held
        m.sqliteHeapBytes = SQLiteStore.heapBytes
        return m
    }

    /// Blocks until everything handed over so far is in the store (tests, benchmarks).
    public func waitUntilWritten(timeout: Double) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            let target = intake.handedOver
            let idle = writer.machine.withLock { $0.applied == target && $0.pending.count == 0 && !$0.writing }
            if idle && counters.storeHealthy { return true }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return false
    }
}
