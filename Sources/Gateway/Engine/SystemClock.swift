import GatewayCore

/// The system's clocks, read by each loop once per turn.
struct SystemClock: GatewayClock {
    func monotonicMilliseconds() -> UInt64 { Sys.monotonicMilliseconds() }
    func unixMilliseconds() -> UInt64 { Sys.unixMilliseconds() }
}
