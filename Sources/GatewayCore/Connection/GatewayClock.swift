import Synchronization

/// Time as the gateway sees it: monotonic milliseconds for deadlines, wall-clock milliseconds
/// for the UUIDv7 uids it assigns. Injected, so the connection machine runs on a test's time.
package protocol GatewayClock: Sendable {
    /// Milliseconds on a clock that never goes back (deadlines, rates).
    func monotonicMilliseconds() -> UInt64
    /// Milliseconds since the Unix epoch.
    func unixMilliseconds() -> UInt64
}

/// A clock that moves only when told to: for tests and simulations.
package final class ManualClock: GatewayClock {
    private let milliseconds: Atomic<UInt64>

    /// A clock at `milliseconds` (both readings).
    package init(_ milliseconds: UInt64 = 1_000_000) {
        self.milliseconds = Atomic(milliseconds)
    }

    package func monotonicMilliseconds() -> UInt64 { milliseconds.load(ordering: .relaxed) }
    package func unixMilliseconds() -> UInt64 { milliseconds.load(ordering: .relaxed) }

    /// Moves the clock to `milliseconds`.
    package func set(_ milliseconds: UInt64) {
        self.milliseconds.store(milliseconds, ordering: .relaxed)
    }
}
