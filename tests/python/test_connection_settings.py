"""S15/S18 through `ampora serve`: the heartbeat interval and own-telemetry endpoints offered
from flags, filtered by each agent's capabilities, and offered again when an agent reports
another hash."""
import os

import pytest
import websockets


import opamp_ref
from test_gateway import Server, exchange, run

A = opamp_ref.agent_to_server_class()
ACCEPTS_OPAMP_SETTINGS = 0x100
REPORTS_OWN_METRICS = 0x40
REPORTS_HEARTBEAT = 0x2000
STATUS = 0x1


def message(uid, seq, caps, settings_hash=None):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=caps)
    m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "otelcol"
    if settings_hash is not None:
        m.connection_settings_status.last_connection_settings_hash = settings_hash
        m.connection_settings_status.status = 1  # APPLIED
    return b"\x00" + m.SerializeToString()


@pytest.fixture(params=["uring", "epoll"])
def server(request):
    s = Server("--io", request.param, "--advertised-url", "wss://opamp.example.com/v1/opamp",
               "--heartbeat-interval", "45", "--own-metrics-endpoint", "https://otlp.example.com/v1/metrics")
    yield s
    assert s.stop() == 0


def test_offers_follow_capabilities_and_hashes(server):
    async def go():
        async with websockets.connect(server.ws_url) as ws:
            uid = os.urandom(16)
            first = await exchange(ws, message(uid, 0, STATUS | ACCEPTS_OPAMP_SETTINGS | REPORTS_HEARTBEAT
                                               | REPORTS_OWN_METRICS))
            offer = first.connection_settings
            assert offer.opamp.destination_endpoint == "wss://opamp.example.com/v1/opamp"
            assert offer.opamp.heartbeat_interval_seconds == 45
            assert offer.own_metrics.destination_endpoint == "https://otlp.example.com/v1/metrics"
            assert len(offer.hash) == 32
            applied = await exchange(ws, message(uid, 1, STATUS | ACCEPTS_OPAMP_SETTINGS | REPORTS_HEARTBEAT
                                                 | REPORTS_OWN_METRICS, settings_hash=offer.hash))
            assert not applied.HasField("connection_settings"), "the agent has them: not offered again"
            stale = await exchange(ws, message(uid, 2, STATUS | ACCEPTS_OPAMP_SETTINGS | REPORTS_HEARTBEAT
                                               | REPORTS_OWN_METRICS, settings_hash=b"\x01" * 32))
            assert stale.connection_settings.hash == offer.hash, "another hash reported: offered again"
        async with websockets.connect(server.ws_url) as ws:
            quiet = await exchange(ws, message(os.urandom(16), 0, STATUS | ACCEPTS_OPAMP_SETTINGS))
            assert quiet.connection_settings.opamp.heartbeat_interval_seconds == 0, "no ReportsHeartbeat"
            assert not quiet.connection_settings.HasField("own_metrics"), "no ReportsOwnMetrics"
        async with websockets.connect(server.ws_url) as ws:
            none = await exchange(ws, message(os.urandom(16), 0, STATUS))
            assert not none.HasField("connection_settings"), "an agent that accepts none gets none"

    run(go())


def test_a_bad_advertised_url_is_a_usage_error():
    import subprocess
    from conftest import bin_dir
    out = subprocess.run([str(bin_dir() / "ampora"), "serve", "--advertised-url", "opamp.example.com",
                          "--database", "sqlite::memory:"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 64 and "--advertised-url" in out.stderr
