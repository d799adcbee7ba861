import Foundation

/// Wall-clock milliseconds since the Unix epoch: the times the fleet stores and shows.
enum WallClock {
    /// Now, in milliseconds since the Unix epoch.
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// A monotonic reading in nanoseconds: orders hand-overs from different loops, because a
    /// change that happened after another on any core reads a value at least as large.
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// CPU time the calling thread has used, in seconds: what the fleet's own threads spend on
    /// their work, published so that its cost per change can be compared across fleet sizes.
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
