"""The server's observability on the real binary: every /metrics name, type and label set the
operator plane had before it moved to swift-prometheus.
"""
import asyncio
import os
import urllib.request

import websockets

from test_fleet import wait_for
from test_gateway import Server, exchange, msg

# /metrics as it was before the registry moved to swift-prometheus: every family and its type,
# and every series (name plus labels). Dashboards and alerts are written against these.
METRIC_TYPES = {
    "ampora_agent_connections": "gauge",
    "ampora_agent_connections_accepted_total": "counter",
    "ampora_agent_connections_closed_total": "counter",
    "ampora_connection_timeouts_total": "counter",
    "ampora_fleet_agents": "gauge",
    "ampora_fleet_agents_connected": "gauge",
    "ampora_fleet_agents_forgotten_total": "counter",
    "ampora_fleet_changes_total": "counter",
    "ampora_fleet_pushes_requested_total": "counter",
    "ampora_half_open_connections_shed_total": "counter",
    "ampora_http_agents_expired_total": "counter",
    "ampora_http_errors_total": "counter",
    "ampora_opamp_messages_malformed_total": "counter",
    "ampora_opamp_messages_rejected_total": "counter",
    "ampora_opamp_messages_total": "counter",
    "ampora_overload_rejections_total": "counter",
    "ampora_persistence_backlog_history": "gauge",
    "ampora_persistence_backlog_rows": "gauge",
    "ampora_persistence_flush_failures_total": "counter",
    "ampora_persistence_flush_seconds_total": "counter",
    "ampora_persistence_flushes_total": "counter",
    "ampora_persistence_healthy": "gauge",
    "ampora_persistence_history_dropped_total": "counter",
    "ampora_persistence_last_flush_seconds": "gauge",
    "ampora_persistence_rows_written_total": "counter",
    "ampora_pushes_total": "counter",
    "ampora_slow_consumers_disconnected_total": "counter",
    "ampora_websocket_protocol_errors_total": "counter",
}
SERIES = {name for name in METRIC_TYPES if name != "ampora_opamp_messages_rejected_total"} | {
    'ampora_opamp_messages_rejected_total{reason="too_many_attributes"}',
    'ampora_opamp_messages_rejected_total{reason="registration_rate"}',
    'ampora_opamp_messages_rejected_total{reason="inventory_full"}',
}


def scrape(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def test_metrics_keep_every_name_type_and_label_set():
    server = Server()
    try:
        text = scrape(server)
        types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
        assert types == METRIC_TYPES
        series = {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}
        assert series == SERIES

        # The values come from the loops' and the fleet's own counters, and counters only grow.
        async def agent():
            async with websockets.connect(server.ws_url) as ws:
                await exchange(ws, msg(os.urandom(16), 0, full=True))
        asyncio.run(asyncio.wait_for(agent(), timeout=30))
        m = wait_for(lambda: (lambda m: m if m["ampora_agent_connections_closed_total"] >= 1
                              and m["ampora_fleet_changes_total"] >= 1 else None)(server.metrics()),
                     what="the agent in the counters")
        assert m["ampora_agent_connections_accepted_total"] >= 1
        assert m["ampora_opamp_messages_total"] >= 1
        assert m["ampora_fleet_agents"] == 1
        again = server.metrics()
        assert all(again[name] >= m[name] for name in m if name.endswith("_total"))
    finally:
        assert server.stop() == 0
