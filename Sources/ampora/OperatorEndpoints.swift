import Gateway
import GatewayCore

/// The gateway's counters as Prometheus text (the operator API adds the fleet's).
enum OperatorEndpoints {
    static func metrics(_ c: GatewayCounters) -> String {
        let rows: [(String, String, Int)] = [
            ("ampora_agent_connections", "gauge", c.active),
            ("ampora_agent_connections_accepted_total", "counter", c.accepted),
            ("ampora_agent_connections_closed_total", "counter", c.closed),
            ("ampora_opamp_messages_total", "counter", c.messagesIn),
            ("ampora_opamp_messages_malformed_total", "counter", c.malformed),
            ("ampora_websocket_protocol_errors_total", "counter", c.protocolErrors),
            ("ampora_http_errors_total", "counter", c.httpErrors),
            ("ampora_overload_rejections_total", "counter", c.overloadRejections),
            ("ampora_slow_consumers_disconnected_total", "counter", c.slowConsumers),
            ("ampora_connection_timeouts_total", "counter", c.timeouts),
            ("ampora_pushes_total", "counter", c.pushes),
            ("ampora_half_open_connections_shed_total", "counter", c.halfOpenShed),
            ("ampora_http_agents_expired_total", "counter", c.httpAgentsExpired),
        ]
        let rejected: [(String, Int)] = [
            ("too_many_attributes", c.rejectedTooManyAttributes),
            ("registration_rate", c.rejectedRegistrationRate),
            ("inventory_full", c.rejectedInventoryFull),
        ]
        return rows.map { "# TYPE \($0.0) \($0.1)\n\($0.0) \($0.2)\n" }.joined()
            + "# TYPE ampora_opamp_messages_rejected_total counter\n"
            + rejected.map { "ampora_opamp_messages_rejected_total{reason=\"\($0.0)\"} \($0.1)\n" }.joined()
    }
}
