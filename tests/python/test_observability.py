"""The server's logs, metrics and shutdown on the real binary: `--log-format json` and
`--log-level` (and their environment variables), every /metrics name, type and label set the
operator plane had before it moved to swift-prometheus, and stop signals that arrive while the
server is still starting.
"""
import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import urllib.request

import pytest
import websockets

from conftest import bin_dir
from test_fleet import wait_for
from test_gateway import Server, exchange, msg

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LEVELS = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

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


def serve(tmp_path, *args, env=None):
    """Starts `ampora serve` on free loopback ports with its own database; returns the process."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--loops", "2", "--database", f"sqlite:{tmp_path / 'ampora.db'}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AMPORA_")}, **(env or {})})


def run_and_stop(tmp_path, *args, env=None):
    """Starts the server, waits for its ready line, stops it with SIGTERM; returns its stderr lines."""
    proc = serve(tmp_path, *args, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ampora ready "), (line, proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return err.splitlines()


def json_lines(lines):
    """Each stderr line parsed as one JSON object with the fields every line carries."""
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert RFC3339_UTC.match(record["timestamp"]), line
        assert record["level"] in LEVELS, line
        assert isinstance(record["message"], str) and record["message"], line
        assert isinstance(record["label"], str), line
        assert all(isinstance(value, str) for value in record.values()), line
        records.append(record)
    return records


def test_json_logs_are_one_object_per_line(tmp_path):
    records = json_lines(run_and_stop(tmp_path, "--log-format", "json"))
    messages = [r["message"] for r in records]
    assert any(m.startswith("database sqlite ready") for m in messages), messages
    assert any(m.startswith("io=") for m in messages), messages
    assert "signal SIGTERM: closing agents with 1001 and stopping" in messages
    assert "stopped; every change written" in messages
    assert {r["level"] for r in records} == {"info"}


def test_log_level_warning_suppresses_info(tmp_path):
    assert run_and_stop(tmp_path / "a", "--log-format", "json", "--log-level", "warning") == []
    # The environment variable does the same, and a flag wins over it.
    assert run_and_stop(tmp_path / "b", env={"AMPORA_LOG_LEVEL": "warning", "AMPORA_LOG_FORMAT": "json"}) == []
    records = json_lines(run_and_stop(tmp_path / "c", "--log-level", "info", env={
        "AMPORA_LOG_LEVEL": "warning", "AMPORA_LOG_FORMAT": "json"}))
    assert any(r["message"].startswith("database") for r in records)
    # An error still gets through at warning, as JSON.
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE payroll (id INTEGER)")
    out = subprocess.run([str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen",
                          "127.0.0.1:0", "--database", f"sqlite:{foreign}", "--log-format", "json",
                          "--log-level", "warning"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    [record] = json_lines(out.stderr.splitlines())
    assert record["level"] == "error" and "not an Ampora database" in record["message"]


def test_text_logs_stay_the_default(tmp_path):
    lines = run_and_stop(tmp_path)
    assert lines and not any(line.startswith("{") for line in lines)
    assert any("database sqlite ready" in line for line in lines)


def test_json_log_messages_are_escaped(tmp_path):
    # Quotes, a backslash, a tab and a newline in a database path that cannot be opened: the
    # error line names the path, and must still be one line of valid JSON.
    odd = tmp_path / 'no "such" dir\\with\ttab\nand newline' / "x.db"
    out = subprocess.run([str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen",
                          "127.0.0.1:0", "--database", f"sqlite:{odd}", "--log-format", "json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    records = json_lines(out.stderr.splitlines())
    assert [r["level"] for r in records] == ["error"]
    assert str(odd) in records[0]["message"]


def test_bad_log_flags_are_usage_errors(tmp_path):
    for args, env in [(["--log-format", "xml"], {}), (["--log-level", "loud"], {}),
                      ([], {"AMPORA_LOG_FORMAT": "xml"}), ([], {"AMPORA_LOG_LEVEL": "loud"})]:
        proc = serve(tmp_path, *args, env=env)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 64, (args, env, err)
        assert "xml" in err or "loud" in err


def scrape(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def test_metrics_keep_every_name_type_and_label_set():
    server = Server()
    try:
        text = scrape(server)
        types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
        # Every name, type and label set of before is still there (new metrics may be added).
        assert {name: types.get(name) for name in METRIC_TYPES} == METRIC_TYPES
        series = {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}
        assert SERIES <= series, SERIES - series

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
        # The embedded database's heap is reported (its page cache grows with the database).
        assert m["ampora_persistence_sqlite_heap_bytes"] > 0
        # The connect and the disconnect are changes; the CPU spent applying them is measured
        # (with a thread clock, so it may round to nothing for two messages, but never goes back).
        assert m["ampora_fleet_status_changes_total"] >= 1
        assert m["ampora_fleet_ingest_cpu_seconds_total"] >= 0
        assert m["ampora_rollout_controller_cpu_seconds_total"] > 0, "the controller passes every 50 ms"
        again = server.metrics()
        assert all(again[name] >= m[name] for name in m if name.endswith("_total"))
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("when", ["database-open", "ready-line"])
def test_a_stop_signal_during_start_is_a_clean_stop(tmp_path, sig, when):
    """A signal as soon as the database is open (before the services run, before the ready line)
    or right at the ready line stops the server cleanly: exit 0, not death by the signal."""
    for attempt in range(5):
        proc = serve(tmp_path / f"{attempt}", "--log-format", "json")
        try:
            first = proc.stderr.readline()
            assert json.loads(first)["message"].startswith("database sqlite ready"), first
            if when == "ready-line":
                assert proc.stdout.readline().startswith("ampora ready ")
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, (attempt, err)
        messages = [r["message"] for r in json_lines(err.splitlines())]
        assert f"signal {signal.Signals(sig).name}: closing agents with 1001 and stopping" in messages
        assert messages[-1] == "stopped; every change written"
