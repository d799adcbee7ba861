import Core
import Synchronization

/// What the event loops hand over, waiting for the ingest thread: one lane per loop, so a loop
/// only ever meets the ingest thread on its lock, never another loop.
final class Intake: Sendable {
    /// A change and when it was handed over (monotonic): the ingest thread restores the order
    /// between lanes, because one agent's messages can arrive on different loops (a plain-HTTP
    /// agent polls on any connection; a reconnecting agent lands on any loop).
    struct Stamped {
        var stamp: UInt64
        var change: StatusChanges
    }

    /// One lane's contents; the ingest thread swaps its own empty buffers in, so a steady state
    /// allocates nothing on either side.
    struct Buffers {
        var changes: [Stamped] = []
        var beats: [InstanceUID] = []
    }

    private struct Lane {
        var buffers = Buffers()
        /// Messages handed over on this lane since the start.
        var handedOver = 0
    }

    private final class LaneBox: Sendable {
        let state = Mutex(Lane())
    }

    /// Lanes; loops beyond this share one (correct, merely contended).
    static let laneCount = 64
    private let lanes: [LaneBox] = (0..<Intake.laneCount).map { _ in LaneBox() }

    /// Queues a message's changes from loop `loop`.
    func record(_ changes: StatusChanges, loop: Int) {
        let stamped = Stamped(stamp: WallClock.monotonicNanoseconds(), change: changes)
        lanes[loop & (Self.laneCount - 1)].state.withLock { lane in
            lane.buffers.changes.append(stamped)
            lane.handedOver &+= 1
        }
    }

    /// Queues a liveness update from loop `loop`.
    func heartbeat(_ uid: InstanceUID, loop: Int) {
        lanes[loop & (Self.laneCount - 1)].state.withLock { lane in
            lane.buffers.beats.append(uid)
            lane.handedOver &+= 1
        }
    }

    /// Messages handed over on every lane since the start.
    var handedOver: Int {
        lanes.reduce(0) { sum, box in sum &+ box.state.withLock { $0.handedOver } }
    }

    /// Takes what every lane holds: `spares` (one per lane, emptied by the caller) are swapped
    /// in, and the changes come out in hand-over order.
    func drain(_ spares: inout [Buffers], changes: inout [StatusChanges], beats: inout [InstanceUID]) {
        if spares.count != Self.laneCount { spares = Array(repeating: Buffers(), count: Self.laneCount) }
        var filled = 0
        for i in 0..<Self.laneCount {
            lanes[i].state.withLock { swap(&$0.buffers, &spares[i]) }
            if !spares[i].changes.isEmpty { filled += 1 }
            beats += spares[i].beats
            spares[i].beats.removeAll(keepingCapacity: true)
        }
        if filled <= 1 {
            for i in 0..<Self.laneCount where !spares[i].changes.isEmpty {
                for stamped in spares[i].changes { changes.append(stamped.change) }
            }
        } else {
            var all: [Stamped] = []
            for i in 0..<Self.laneCount { all += spares[i].changes }
            // Stable: changes of one lane with equal stamps keep their order.
            for stamped in all.enumerated().sorted(by: { ($0.element.stamp, $0.offset) < ($1.element.stamp, $1.offset) }
            ) {
                changes.append(stamped.element.change)
            }
        }
        for i in 0..<Self.laneCount { spares[i].changes.removeAll(keepingCapacity: true) }
    }
}
