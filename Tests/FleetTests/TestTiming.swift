import Foundation

/// Wall-clock bounds in tests, scaled by AMPORA_TEST_TIME_SCALE (default 1, never below 1). The
/// sanitizer runs (scripts/sanitize.sh) set it: instrumented code runs several times slower, and
/// a bound that says "orders of magnitude below the bad case" must stay that, not become a race
/// against the instrumentation.
enum TestTiming {
    static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["AMPORA_TEST_TIME_SCALE"], let value = Double(text)
        else { return 1 }
        return max(value, 1)
    }()

    /// `seconds`, scaled.
    static func seconds(_ seconds: Double) -> Double { seconds * scale }

    /// Polls `condition` every 10 ms until it holds or `seconds` (scaled) have passed; returns it.
    static func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(Self.seconds(seconds))
        while !condition() {
            if Date() >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }
}
