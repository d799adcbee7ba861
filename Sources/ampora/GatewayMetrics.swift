import Gateway
import GatewayCore
import Web

/// The gateway's metrics, read from the counters the loops publish on each tick (summed over the
/// loops by `GatewayServer.counters`); the operator API adds the fleet's.
enum GatewayMetrics {
    private static let rejected = "ampora_opamp_messages_rejected_total"
    private static let rejectedHelp = "Agent messages refused and not processed, by reason."
    private static let tlsFailed = "ampora_tls_handshake_failures_total"
    private static let tlsFailedHelp = "TLS handshakes on the agent listener that failed, by reason."

    static let rows: [SnapshotMetrics<GatewayCounters>.Row] = [
        .init("ampora_agent_connections", help: "Agent connections open now.", .gauge { Double($0.active) }),
        .init("ampora_agent_connections_accepted_total", help: "Agent connections accepted.", .count { $0.accepted }),
        .init("ampora_agent_connections_closed_total", help: "Agent connections closed.", .count { $0.closed }),
        .init(
            "ampora_opamp_messages_total", help: "OpAMP messages received (both transports).",
            .count { $0.messagesIn }),
        .init(
            "ampora_opamp_messages_malformed_total", help: "OpAMP messages answered with BAD_REQUEST.",
            .count { $0.malformed }),
        .init(
            "ampora_websocket_protocol_errors_total", help: "WebSocket connections closed for a protocol error.",
            .count { $0.protocolErrors }),
        .init(
            "ampora_http_errors_total", help: "Agent HTTP requests refused with 4xx or 5xx.", .count { $0.httpErrors }),
        .init(
            "ampora_overload_rejections_total", help: "Agents refused or told to come back later under overload.",
            .count { $0.overloadRejections }),
        .init(
            "ampora_slow_consumers_disconnected_total", help: "Agents too slow to read their replies, disconnected.",
            .count { $0.slowConsumers }),
        .init(
            "ampora_connection_timeouts_total", help: "Agent connections closed by the idle, header or body timeout.",
            .count { $0.timeouts }),
        .init("ampora_pushes_total", help: "Unsolicited pushes sent to agents.", .count { $0.pushes }),
        .init(
            "ampora_half_open_connections_shed_total",
            help: "Half-open connections closed to make room at the per-loop cap.", .count { $0.halfOpenShed }),
        .init(
            "ampora_http_agents_expired_total",
            help: "Plain-HTTP agents marked disconnected after they stopped polling.",
            .count { $0.httpAgentsExpired }),
        .init(
            rejected, labels: [("reason", "too_many_attributes")], help: rejectedHelp,
            .count { $0.rejectedTooManyAttributes }),
        .init(
            rejected, labels: [("reason", "registration_rate")], help: rejectedHelp,
            .count { $0.rejectedRegistrationRate }),
        .init(
            rejected, labels: [("reason", "inventory_full")], help: rejectedHelp, .count { $0.rejectedInventoryFull }),
        .init(rejected, labels: [("reason", "cut_off")], help: rejectedHelp, .count { $0.rejectedCutOff }),
        .init(
            "ampora_agents_released_total",
            help: "Agents closed (1001) to reconnect elsewhere while this instance could not reach its database.",
            .count { $0.released }),
        .init(rejected, labels: [("reason", "identity")], help: rejectedHelp, .count { $0.rejectedIdentity }),
        .init(rejected, labels: [("reason", "revoked")], help: rejectedHelp, .count { $0.rejectedRevoked }),
        .init(
            "ampora_enrollment_refused_total",
            help: "Agents refused for a missing, unknown, expired or used-up enrollment token.",
            .count { $0.enrollmentRefused }),
        .init(
            "ampora_tls_sessions", help: "TLS sessions (handshaking or established) alive now.",
            .gauge { _ in Double(TLSChannel.alive.load(ordering: .relaxed)) }),
        .init(
            "ampora_tls_record_buffers_pooled",
            help: "1 when OpenSSL's record buffers come from the per-thread pool, 0 when from malloc.",
            .gauge { _ in TLSRecordBuffers.installed ? 1 : 0 }),
        .init(
            "ampora_tls_handshakes_total", help: "TLS handshakes completed on the agent listener.",
            .count { $0.tlsHandshakes }),
        .init(
            tlsFailed, labels: [("reason", "version")], help: tlsFailedHelp,
            .count { $0.tlsHandshakeFailures.version }),
        .init(
            tlsFailed, labels: [("reason", "certificate")], help: tlsFailedHelp,
            .count { $0.tlsHandshakeFailures.certificate }),
        .init(
            tlsFailed, labels: [("reason", "not_tls")], help: tlsFailedHelp, .count { $0.tlsHandshakeFailures.notTLS }),
        .init(
            tlsFailed, labels: [("reason", "revoked")], help: tlsFailedHelp,
            .count { $0.tlsHandshakeFailures.revoked }),
        .init(
            tlsFailed, labels: [("reason", "other")], help: tlsFailedHelp, .count { $0.tlsHandshakeFailures.other }),
        .init(
            "ampora_agent_certificates_issued_total", help: "Agent CSRs signed by the Ampora CA.",
            .count { $0.certificatesIssued }),
        .init(
            "ampora_agent_certificate_requests_refused_total",
            help: "Agent CSRs refused (not a CSR, a weak key, another agent's uid).",
            .count { $0.certificateRequestsRefused }),
        .init(
            "ampora_revoked_disconnects_total",
            help: "Agent connections closed or polls refused because the agent's certificate was revoked.",
            .count { $0.revokedDisconnects }),
        .init(
            "ampora_tls_errors_total",
            help: "Established TLS connections closed for a protocol violation (renegotiation, a bad record).",
            .count { $0.tlsErrors }),
    ]
}
