import Synchronization

/// The io_uring loops that share one listener: their connection counts (a ring far ahead of
/// the others pauses accepting, because the kernel tends to wake the same ring), their ring
/// descriptors (for cross-ring pokes), and growth: when every ring is full, one more is
/// started, so a process holds as many agents as rings × table size, up to `maxRings`.
final class RingSet: Sendable {
    private struct State {
        var counts: [Int] = []
        var fds: [Int32] = []
        var growing = false
        var grow: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    /// How far ahead of the least-loaded ring a ring may get before it pauses accepting.
    let slack = 32
    /// Connections one ring takes before it counts as full.
    let capacity: Int
    /// The most rings the process may run.
    let maxRings: Int

    init(capacity: Int, maxRings: Int) {
        self.capacity = capacity
        self.maxRings = maxRings
    }

    /// Starts one more ring; set by the server.
    var grow: (@Sendable () -> Void)? {
        get { state.withLock { $0.grow } }
        set { state.withLock { $0.grow = newValue } }
    }

    /// Adds a ring; returns its index.
    func register(ringFD: Int32) -> Int {
        state.withLock { s in
            s.counts.append(0)
            s.fds.append(ringFD)
            s.growing = false
            return s.counts.count - 1
        }
    }

    /// Records `ring`'s count; returns the smallest count among the rings that still have room.
    func update(_ ring: Int, live: Int) -> Int {
        state.withLock { s in
            s.counts[ring] = live
            var least = Int.max
            for (i, c) in s.counts.enumerated() where i != ring && c < capacity { least = min(least, c) }
            return least == Int.max ? live : least
        }
    }

    /// Ring descriptors of every ring but `ring`.
    func peers(of ring: Int) -> [Int32] {
        state.withLock { s in s.fds.enumerated().filter { $0.offset != ring && $0.element >= 0 }.map(\.element) }
    }

    /// A registered ring that could not be started: it takes no part in balancing or pokes,
    /// and growth may be tried again.
    func retire(_ ring: Int) {
        state.withLock { s in
            s.counts[ring] = Int.max
            s.fds[ring] = -1
            s.growing = false
        }
    }

    /// Growth failed before a ring was registered; allow another attempt.
    func growthFailed() {
        state.withLock { $0.growing = false }
    }

    /// Number of rings running.
    var count: Int { state.withLock { $0.counts.count } }

    /// Called by a ring that stopped accepting because it is full: when all are, start another.
    func ringIsFull() {
        let start: (@Sendable () -> Void)? = state.withLock { s in
            let usable = s.counts.filter { $0 != Int.max }
            guard !s.growing, s.counts.count < maxRings, usable.allSatisfy({ $0 >= capacity - slack }) else {
                return nil
            }
            s.growing = true
            return s.grow
        }
        start?()
    }
}
