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
    /// Time allowed to send a request body once the head arrived, on top of its size at
    /// `minimumBodyBytesPerSecond` (a 64 MiB body may take minutes on a slow link, a 1 KB one not).
    public var bodyTimeoutMilliseconds: UInt64 = 30_000
    /// The slowest upload rate a body deadline allows for.
    public var minimumBodyBytesPerSecond: UInt64 = 256 * 1024
    /// Attributes (identifying plus non-identifying) one agent description may carry; a message
    /// with more is refused with `BAD_REQUEST` before any of it is processed.
    public var maxAttributesPerDescription = 1000
    /// New agents (uids the fleet has never seen) that one source address, and separately one
    /// connection, may register per second; 0 disables the limit. Beyond it the message gets
    /// `UNAVAILABLE` with `RetryInfo`.
    public var registrationsPerSecond = 1000
    /// Registrations a source or connection may make at once before the rate applies.
    public var registrationBurst = 20_000
    /// A plain-HTTP agent that has not polled for this long is marked disconnected (its poll
    /// interval plus grace; OpAMP HTTP clients poll every 30 s by default).
    public var httpAgentTimeoutMilliseconds: UInt64 = 90_000
    /// Connections per event loop beyond which new agents are refused with 503 + Retry-After.
    public var maxConnectionsPerLoop = 200_000
    /// Connections still in the HTTP phase (no request answered yet) per loop; beyond it the
    /// oldest of them is closed to make room, so a flood of half-open connections cannot keep
    /// a well-behaved agent out.
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
    /// Process descriptors the epoll engine leaves to the rest of the process (the operator
    /// plane's connections, the database, files), so agents cannot starve operators of them.
    public var reservedDescriptors = 1024
    /// Agent connections one epoll loop holds at most (set from the open-file limit at start).
    package var epollConnectionsPerLoop = Int.max
    /// TLS for the agent listener; nil: plain text.
    public var tls: TLSContext?
    /// Agents must show an enrollment token (`Authorization: Bearer …`) on the WebSocket upgrade
    /// and on every plain-HTTP POST; without a valid one they get 401 before any OpAMP.
    public var requireEnrollment = false
    /// Capabilities the server announces.
    public var serverCapabilities: ServerCapabilities = .ampora

    /// The defaults.
    public init() {
        httpLimits.maxBodyBytes = maxMessageSize
    }
}
