/// Counters one loop keeps without synchronisation; the server sums them on demand.
public struct GatewayCounters: Sendable {
    /// All zero.
    public init() {}

    /// Connections open now.
    public var active = 0
    /// Connections accepted.
    public var accepted = 0
    /// Connections closed.
    public var closed = 0
    /// OpAMP messages received (both transports).
    public var messagesIn = 0
    /// Messages answered with BAD_REQUEST.
    public var malformed = 0
    /// Connections closed for a WebSocket protocol error (1002/1003/1007/1009).
    public var protocolErrors = 0
    /// HTTP requests refused with 4xx/5xx by the parser or router.
    public var httpErrors = 0
    /// Agents refused or told to come back later because of overload.
    public var overloadRejections = 0
    /// Consumers too slow to drain their send queue, disconnected.
    public var slowConsumers = 0
    /// Connections closed by the idle, header or body timeout.
    public var timeouts = 0
    /// Unsolicited pushes sent (remote config, connection settings, packages).
    public var pushes = 0
    /// Half-open connections closed to make room for new ones at the per-loop cap.
    public var halfOpenShed = 0
    /// Messages refused because their description had too many attributes.
    public var rejectedTooManyAttributes = 0
    /// New agents turned away by the registration rate limit.
    public var rejectedRegistrationRate = 0
    /// New agents turned away because the inventory is full (`--max-agents`).
    public var rejectedInventoryFull = 0
    /// Agents turned away while this instance cannot record them (its database is out of reach).
    public var rejectedCutOff = 0
    /// Agents closed (1001) for that reason.
    public var released = 0
    /// Messages refused because their uid is bound to another client certificate.
    public var rejectedIdentity = 0
    /// Messages refused because an operator revoked their agent.
    public var rejectedRevoked = 0
    /// Requests refused for a missing, unknown or expired enrollment token, and new agents
    /// refused because their token was used up.
    public var enrollmentRefused = 0
    /// CSRs signed.
    public var certificatesIssued = 0
    /// CSRs refused: not a CSR, a weak key, another agent's uid, no CA.
    public var certificateRequestsRefused = 0
    /// Operator commands sent to agents (restart, full state, reconcile).
    public var commands = 0
    /// Connections closed because their agent's certificate was revoked.
    public var revokedDisconnects = 0
    /// Plain-HTTP agents marked disconnected because they stopped polling.
    public var httpAgentsExpired = 0
    /// TLS handshakes completed.
    public var tlsHandshakes = 0
    /// TLS handshakes that failed, by reason.
    public var tlsHandshakeFailures = TLSFailureCounts()
    /// Established TLS connections closed for a protocol violation (a renegotiation attempt, a bad record).
    public var tlsErrors = 0

    /// Adds another loop's counters.
    public mutating func add(_ o: GatewayCounters) {
        active += o.active
        accepted += o.accepted
        closed += o.closed
        messagesIn += o.messagesIn
        malformed += o.malformed
        protocolErrors += o.protocolErrors
        httpErrors += o.httpErrors
        overloadRejections += o.overloadRejections
        slowConsumers += o.slowConsumers
        timeouts += o.timeouts
        pushes += o.pushes
        halfOpenShed += o.halfOpenShed
        rejectedTooManyAttributes += o.rejectedTooManyAttributes
        rejectedRegistrationRate += o.rejectedRegistrationRate
        rejectedInventoryFull += o.rejectedInventoryFull
        rejectedCutOff += o.rejectedCutOff
        released += o.released
        rejectedIdentity += o.rejectedIdentity
        rejectedRevoked += o.rejectedRevoked
        enrollmentRefused += o.enrollmentRefused
        httpAgentsExpired += o.httpAgentsExpired
        certificatesIssued += o.certificatesIssued
        certificateRequestsRefused += o.certificateRequestsRefused
        revokedDisconnects += o.revokedDisconnects
        commands += o.commands
        tlsHandshakes += o.tlsHandshakes
        tlsHandshakeFailures.add(o.tlsHandshakeFailures)
        tlsErrors += o.tlsErrors
    }
}

/// Failed TLS handshakes by reason (see `TLSFailure`).
public struct TLSFailureCounts: Sendable {
    /// A version below the minimum, or none in common.
    public var version = 0
    /// A missing or unverifiable client certificate.
    public var certificate = 0
    /// Bytes that were not TLS.
    public var notTLS = 0
    /// A client certificate an operator revoked.
    public var revoked = 0
    /// Any other reason.
    public var other = 0

    /// All zero.
    public init() {}

    /// Each reason with its metric label and count.
    public var byLabel: [(label: String, count: Int)] {
        [
            ("version", version), ("certificate", certificate), ("not_tls", notTLS), ("revoked", revoked),
            ("other", other),
        ]
    }

    package subscript(_ reason: TLSFailure) -> Int {
        get {
            switch reason {
            case .version: version
            case .certificate: certificate
            case .notTLS: notTLS
            case .revoked: revoked
            case .other: other
            }
        }
        set {
            switch reason {
            case .version: version = newValue
            case .certificate: certificate = newValue
            case .notTLS: notTLS = newValue
            case .revoked: revoked = newValue
            case .other: other = newValue
            }
        }
    }

    mutating func add(_ o: TLSFailureCounts) {
        version += o.version
        certificate += o.certificate
        notTLS += o.notTLS
        revoked += o.revoked
        other += o.other
    }
}
