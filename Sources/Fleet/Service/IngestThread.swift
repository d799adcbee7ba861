import Core
import Foundation

/// The `fleet-ingest` thread: it takes what the loops handed over, applies it to the
/// inventory, hands the results to the writer, and runs the retention sweep.
final class IngestThread: Sendable {
    private let intake: Intake
    private let inventory: Inventory
    private let writer: WriterThread
    private let counters: FleetCounters
    private let options: FleetOptions
    private let events: FleetEvents
    private let customMessages: CustomMessageLog
    /// A reservation whose first message never reached the inventory gives its room back.
    static let reservationLifetimeMilliseconds: Int64 = 60_000

    init(
        intake: Intake, inventory: Inventory, writer: WriterThread, counters: FleetCounters, options: FleetOptions,
        events: FleetEvents, customMessages: CustomMessageLog
    ) {
        self.events = events
        self.customMessages = customMessages
        self.intake = intake
        self.inventory = inventory
        self.writer = writer
        self.counters = counters
        self.options = options
    }

    /// Runs until `isStopping` is true and the intake is empty.
    func run(isStopping: () -> Bool) {
        var spares: [Intake.Buffers] = []
        var changes: [StatusChanges] = []
        var beats: [InstanceUID] = []
        var lastSweep = options.clock()
        while true {
            let now = options.clock()
            if now - lastSweep >= options.retentionSweepMilliseconds {
                lastSweep = now
                // Retention is the cluster leader's work (with one instance, this one's).
                if options.forgetAfterMilliseconds > 0 && counters.snapshot.leader { forgetStale(now: now) }
                dropStaleReservations(now: now)
            }
            // Read before draining: a stop seen here cannot miss what was handed over before it.
            let stopping = isStopping()
            intake.drain(&spares, changes: &changes, beats: &beats)
            if changes.isEmpty && beats.isEmpty {
                if stopping { break }
                usleep(5_000)
                continue
            }
            // Slices, so the writer starts on the first rows while later ones are applied.
            // Heartbeats go on their own, so that the CPU time measured for changes is theirs.
            var start = 0
            while start < changes.count {
                let end = min(changes.count, start + 4096)
                let cpu = WallClock.threadCPUSeconds()
                ingest(changes[start..<end], [])
                let spent = WallClock.threadCPUSeconds() - cpu
                counters.update { m in
                    m.statusChangesIngested += end - start
                    m.ingestCPUSeconds += spent
                }
                start = end
            }
            if !beats.isEmpty { ingest([], beats) }
            changes.removeAll(keepingCapacity: true)
            beats.removeAll(keepingCapacity: true)
        }
        // Last-seen times held back by lastSeenWriteIntervalMilliseconds go out with the last flush.
        writer.finishIngest(lastSeen: inventory.takeUnwrittenLastSeen())
    }

    private func ingest(_ changes: ArraySlice<StatusChanges>, _ beats: [InstanceUID]) {
        // Everything proportional to a message's size happens here, before the inventory lock.
        let prepared = changes.map(PreparedChange.init)
        let applied = inventory.ingest(prepared, beats: beats, now: options.clock())
        let messages = changes.count + beats.count
        counters.update { m in
            m.changesIngested += messages
            m.fencedWrites += applied.fenced
            m.agentsKnown = applied.agentsKnown
        }
        for (uid, seed) in applied.held { inventory.hot.update(uid) { $0.seed(seed) } }
        for (uid, row) in applied.rows where row.isNew { inventory.hot.admit(uid) }
        events.publish(history: applied.history)
        for change in changes {
            guard let message = change.customMessage, let uid = change.instanceUID else { continue }
            let now = options.clock()
            customMessages.record(message, from: uid, at: now)
            events.publish(
                .agentCustomMessage, at: now, agent: uid.description,
                detail: "\(message.capability) \(message.type) (\(message.data.count) bytes)")
        }
        writer.add(applied, messages: messages)
    }

    /// Retention: disconnected agents not seen for `forgetAfterMilliseconds` leave the
    /// inventory, and their rows and history leave the database with the next batch.
    func forgetStale(now: Int64) {
        let forgotten = inventory.forget(notSeenSince: now - options.forgetAfterMilliseconds)
        guard !forgotten.isEmpty else { return }
        writer.forget(forgotten)
        counters.update { $0.agentsForgotten += forgotten.count }
        options.log("fleet: forgot \(forgotten.count) agents not seen for \(options.forgetAfterMilliseconds / 1000) s")
    }

    /// Room `register` made for agents that never arrived is given back.
    func dropStaleReservations(now: Int64) {
        inventory.hot.dropReservations(olderThan: Self.reservationLifetimeMilliseconds, now: now)
    }
}
