/// Connection counts of every ring, so that a ring far ahead of the others stops accepting and
/// lets the shared listener's queue go to them (the kernel tends to wake the same ring).
final class RingBalance: @unchecked Sendable {
    private let lock = Mutex()
    private var counts: [Int]
    /// How far ahead of the least-loaded ring a ring may get before it pauses accepting.
    let slack = 32

    init(rings: Int) {
        counts = Array(repeating: 0, count: rings)
    }

    /// Records `ring`'s count; returns the smallest count among the other rings.
    func update(_ ring: Int, live: Int) -> Int {
        lock.withLock {
            counts[ring] = live
            var least = Int.max
            for (i, c) in counts.enumerated() where i != ring { least = min(least, c) }
            return least == Int.max ? live : least
        }
    }
}
