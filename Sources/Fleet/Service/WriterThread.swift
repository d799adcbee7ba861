import Core
import Dispatch
import Foundation
import Synchronization

/// The thread that drives `WriteBehind`: it asks the machine what to do, writes batches to the
/// store, and sleeps until the next deadline or until more rows or a stop wake it.
final class WriterThread: Sendable {
    /// The batcher; the ingest thread adds to it, the API reads its unwritten history.
    let machine: Mutex<WriteBehind>
    private let wake = DispatchSemaphore(value: 0)
    private let store: any FleetStore
    private let counters: FleetCounters
    private let clock: @Sendable () -> Int64
    private let log: @Sendable (String) -> Void

    /// A writer to `store` with `options`' batching rules.
    init(store: any FleetStore, options: FleetOptions, counters: FleetCounters) {
        self.store = store
        self.counters = counters
        self.clock = options.clock
        self.log = options.log
        machine = Mutex(
            WriteBehind(
                flushInterval: Int64(options.flushIntervalMilliseconds), batchRows: options.batchRows,
                maxHistoryBacklog: options.maxHistoryBacklog, now: options.clock()))
    }

    /// Adds one ingest pass of `messages` messages.
    func add(_ applied: Inventory.Applied, messages: Int) {
        let (dropped, full) = machine.withLock { m in
            let dropped = m.add(
                rows: applied.rows, touches: applied.touches, blobs: applied.blobs, history: applied.history,
                messages: messages)
            return (dropped, m.isFull)
        }
        if dropped > 0 { counters.update { $0.historyDropped += dropped } }
        if full { wake.signal() }
    }

    /// Queues the deletion of forgotten agents and writes it soon.
    func forget(_ uids: [InstanceUID]) {
        machine.withLock { $0.forget(uids) }
        wake.signal()
    }

    /// The ingest thread's last word: held-back last-seen times, then nothing more.
    func finishIngest(lastSeen: [(InstanceUID, Int64)]) {
        machine.withLock { m in
            m.raiseLastSeen(lastSeen)
            m.finishIngest()
        }
        wake.signal()
    }

    /// Asks the loop to flush everything and end.
    func stop() {
        machine.withLock { $0.stop() }
        wake.signal()
    }

    /// Rows not written yet.
    var backlog: Int { machine.withLock { $0.pending.count } }

    /// Runs until the machine says it is finished (on the `fleet-writer` thread).
    func run() {
        var failing = false
        while true {
            let now = clock()
            switch machine.withLock({ $0.next(now: now) }) {
            case .finished:
                return
            case .wait(let until):
                _ = wake.wait(timeout: .now() + .milliseconds(Int(max(0, min(until - now, 60_000)))))
            case .write(let batch):
                let started = ContinuousClock.now
                do {
                    let refused = try store.write(batch)
                    let elapsed = ContinuousClock.now - started
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    machine.withLock { $0.written() }
                    counters.update { m in
                        m.flushes += 1
                        m.rowsWritten += batch.count
                        m.lastFlushSeconds = seconds
                        m.flushSecondsTotal += seconds
                        m.storeHealthy = true
                        m.fencedWrites += refused
                    }
                    if failing {
                        log("fleet: database writes recovered; backlog of \(batch.count) rows written")
                        failing = false
                    }
                } catch {
                    let (dropped, giveUp) = machine.withLock { $0.failed(batch, now: clock()) }
                    counters.update { m in
                        m.historyDropped += dropped
                        m.flushFailures += 1
                        m.storeHealthy = false
                    }
                    if !failing {
                        log("fleet: database write failed, keeping \(batch.count) rows and retrying: \(error)")
                        failing = true
                    }
                    if giveUp { return }
                }
            }
        }
    }
}
