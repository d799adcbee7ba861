import Core

/// Limits and timeouts of the agent gateway; every value has a production default.
public struct GatewayConfiguration: Sendable {
    /// Largest OpAMP message accepted or sent (W4/H5), after decompression.
    public var maxMessageSize = 64 << 20
    /// Header-section and request-line limits for agent HTTP requests.
    public var httpLimits = HTTPLimits()
    /// A connection with no traffic for this long is closed (half-open sockets, dead agents).
    public var idleTimeoutMilliseconds: UInt64 = 120_000
    /// Time allowed to send a complete request head (slowloris guard).
    public var headerTimeoutMilliseconds: UInt64 = 10_000
    /// Time allowed to send a request body once the head arrived.
    public var bodyTimeoutMilliseconds: UInt64 = 30_000
    /// Connections per event loop beyond which new agents are refused with 503 + Retry-After.
    public var maxConnectionsPerLoop = 200_000
    /// Connections still in the HTTP phase per loop beyond which new ones are refused.
    public var maxHandshakesPerLoop = 2_000
    /// Bytes that may wait to be sent to one agent before it counts as a slow consumer.
    public var maxPendingSendBytes = 8 << 20
    /// Retry hint for overload answers (S6 recommends at least 30 s).
    public var retryAfterSeconds: UInt64 = 30
    /// Accept permessage-deflate when an agent offers it.
    public var allowWebSocketDeflate = false
    /// Agents per io_uring ring; nil: the open-file limit less a margin (the kernel's bound
    /// on a ring's registered-file table).
    public var slotsPerRing: Int?
    /// Rings the io_uring engine may grow to as rings fill up (each on its own thread).
    public var maxRings = 64
    /// Capabilities the server announces.
    public var serverCapabilities: ServerCapabilities = .ampora

    /// The defaults.
    public init() {
        httpLimits.maxBodyBytes = maxMessageSize
    }
}
