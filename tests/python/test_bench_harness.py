"""`ampora-bench load` end to end, small and bounded: the connect, steady and http scenarios
against the real `ampora serve`, the push scenario against a scripted server that implements
the operator API contract of the README (and, against the real server, either works or
fails with a clear error). Every address is on loopback."""
import asyncio
import base64
import hashlib
import json
import os
import pathlib
import re
import struct
import subprocess
import sys
import threading
import uuid

import pytest
from opentelemetry._opamp.proto import opamp_pb2

from conftest import bin_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "Benchmarks" / "ampora-bench"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ampora_bench(tmp_path, *args, timeout=60):
    out = tmp_path / "result.json"
    run = subprocess.run(
        ["python3", str(BENCH), "load", *args, "--out", str(out), "--quiet", "--settle", "0.5"],
        capture_output=True, text=True, timeout=timeout)
    result = json.loads(out.read_text()) if out.exists() else None
    return run, result


def ampora_bin():
    path = bin_dir() / "ampora"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `swift build` first")
    return str(path)


def check_shape(result, scenario, agents):
    for key in ("scenario", "peer", "ok", "agents_target", "agents_connected_max", "violations", "errors",
                "latency_us", "samples", "figures", "server_info", "machine", "date", "command"):
        assert key in result, key
    assert result["scenario"] == scenario
    assert result["peer"] == "ampora"
    assert result["agents_target"] == agents
    assert result["agents_connected_max"] == agents
    assert result["violations"] == 0
    assert result["ok"] is True
    assert result["server_info"]["opamp"].startswith("127.")
    assert result["server_info"]["io"] in ("uring", "epoll")
    assert result["machine"]["nproc"] >= 1
    assert all("rss_kb" in s for s in result["samples"])


def test_connect(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "connect", "--agents", "200", "--duration", "15",
                               "--rate", "2000", "--ampora-bin", ampora_bin())
    assert run.returncode == 0, run.stderr[-2000:]
    check_shape(result, "connect", 200)
    assert 0 < result["figures"]["time_to_all_connected_s"] < 10
    assert result["figures"]["handshakes_per_s"] > 0
    assert result["stopped_early_at_s"] is not None   # ends once all are connected


def test_realistic_descriptions_with_twenty_attributes(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "steady", "--agents", "100", "--heartbeat", "1",
                               "--duration", "4", "--attributes", "20", "--ampora-bin", ampora_bin())
    assert run.returncode == 0, run.stderr[-2000:]
    check_shape(result, "steady", 100)
    assert result["attributes"] == 20
    assert result["errors"] == 0
    bad = subprocess.run([str(ROOT / "Benchmarks" / "loadgen" / "opamp-load"), "--target", "127.0.0.1:9",
                          "--attributes", "21"], capture_output=True, text=True, timeout=10)
    assert bad.returncode != 0 and "--attributes must be 3 to 20" in bad.stderr


def test_api_scenario_times_listings_beside_a_niced_load_generator(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "api", "--agents", "200", "--duration", "150",
                               "--rate", "2000", "--rounds", "10", "--api-after", "1", "--loadgen-nice", "5",
                               "--ampora-bin", ampora_bin(), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    check_shape(result, "api", 200)
    assert result["loadgen_nice"] == 5
    one = result["figures"]["one host"]
    assert one["requests"] == 10 and one["total"] == 1
    assert len(one["slowest"]) == 5 and all(len(s) == 3 and s[0] >= 1 for s in one["slowest"])
    assert one["server_p99_ms"] <= one["server_max_ms"] == one["slowest"][0][1]


def test_percentiles_are_taken_by_nearest_rank():
    sys.path.insert(0, str(ROOT / "Benchmarks"))
    from ampora_bench.scenarios import percentile
    hundred = list(range(100, 0, -1))
    # The p99 of 100 values is the 99th smallest, not the largest; the p50 the 50th.
    assert (percentile(hundred, 0.99), percentile(hundred, 0.5), percentile(hundred, 1.0)) == (99, 50, 100)
    assert percentile([7.3], 0.99) == 7.3 and percentile([], 0.5) is None


@pytest.mark.parametrize("scenario", ["steady", "http"])
def test_steady_and_http(tmp_path, scenario):
    run, result = ampora_bench(tmp_path, "--scenario", scenario, "--agents", "200", "--heartbeat", "1",
                               "--duration", "6", "--ampora-bin", ampora_bin())
    assert run.returncode == 0, run.stderr[-2000:]
    check_shape(result, scenario, 200)
    assert result["transport"] == ("http" if scenario == "http" else "ws")
    assert result["errors"] == 0
    fig = result["figures"]
    assert fig["heartbeats_per_s"] > 100
    assert 0 < fig["p50_us"] <= fig["p99_us"] <= fig["p999_us"]
    assert fig["cpu_ms_per_1000_msgs"] is not None and fig["rss_per_agent_bytes"] is not None
    assert result["server"]["rss_before_kb"] > 0


def test_storm_restarts_the_server_and_every_agent_comes_back(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "storm", "--agents", "200", "--heartbeat", "2",
                               "--duration", "20", "--storm-after", "1", "--ampora-bin", ampora_bin())
    assert run.returncode == 0, run.stderr[-2000:]
    assert result["ok"] and result["violations"] == 0 and result["storm_phase"] == "back"
    fig = result["figures"]
    assert fig["old_pid"] != fig["new_pid"] and result["server_info"]["restarts"] == 1
    assert 0 <= fig["reconnect_s_from_ready"] < 10 and fig["reconnects"] >= 200


def test_push_against_the_real_server(tmp_path):
    # The server has the Fleet operator API: the push must work, every agent must apply the
    # config the API names, and nothing may be violated.
    run, result = ampora_bench(tmp_path, "--scenario", "push", "--agents", "100", "--duration", "20",
                               "--ampora-bin", ampora_bin())
    assert run.returncode == 0, run.stderr[-2000:]
    assert result["ok"] and result["violations"] == 0 and result["agents_connected"] == 100
    figures = result["figures"]
    assert figures["push_s_server_view"] > 0
    assert figures["hashes_agents_saw"] == [figures["config_hash"]] == [figures["assignment"]["hash"]]


@pytest.mark.parametrize("canary", ["fail", "stall", "unhealthy", "rollback"])
def test_rollout_canary_is_paused_by_its_gate(tmp_path, canary):
    # 200 agents: a canary stage of 2 (1 %) whose agents misbehave as the marker in the config
    # tells them, then 198 that must never be sent the version. Stall waits for the apply timeout.
    extra = ("--apply-timeout", "3") if canary == "stall" else ()
    run, result = ampora_bench(tmp_path, "--scenario", "rollout", "--canary", canary, "--agents", "200",
                               "--rate", "2000", "--duration", "40", "--push-timeout", "20", *extra,
                               "--ampora-bin", ampora_bin(), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    check_shape(result, "rollout", 200)
    fig = result["figures"]
    what = {"fail": "failed", "stall": "stalled", "unhealthy": "unhealthy", "rollback": "failed"}[canary]
    assert fig["canary"] == canary and fig["canary_fail"] == (canary == "fail")
    assert fig["final"]["state"] == "paused"
    # The gate trips on the first agent over it: the second's report may come in the same pass
    # or after it (the counts below wait for both).
    assert re.match(r"stage 1: [12] of 2 agents %s, over the gate of 0" % what, fig["pause_reason"]), \
        fig["pause_reason"]
    assert fig["gates"] == {{"fail": "maxFailed", "stall": "maxStalled", "unhealthy": "maxUnhealthy",
                             "rollback": "maxFailed"}[canary]: "0%"}
    # A Supervisor-style rollback is recognised: FAILED, then the old hash APPLIED.
    state = "rolledBack" if canary == "rollback" else what
    assert fig["canary_stage"]["targets"] == 2 and fig["canary_stage"][state] == 2, fig["canary_stage"]
    # The server's view and the agents' own: no agent outside the canary got the version.
    assert fig["outside_canary"] == {"targets": 198, "pending": 198, "got_version": 0}
    seen = fig["agents_view"]
    # The rollback canary's agents all applied the base version first.
    assert seen == {"rc_applied": {"unhealthy": 2, "rollback": 200}.get(canary, 0),
                    "rc_failed": 2 if canary in ("fail", "rollback") else 0,
                    "rc_stalled": 2 if canary == "stall" else 0,
                    "rc_rolled_back": 2 if canary == "rollback" else 0,
                    "unhealthy_reports": 2 if canary == "unhealthy" else 0}, seen
    assert (fig.get("base_rollout_s") or 0) > 0 if canary == "rollback" else "base_version" not in fig
    if canary == "stall":
        assert fig["apply_timeout_s"] == 3 and "--config-apply-timeout" in result["server_info"]["command"]
        assert 3 <= fig["rollout_s_until_paused"] < 6
    else:
        assert fig["apply_timeout_s"] is None and 0 < fig["rollout_s_until_paused"] < 3
    assert fig["soak_s"] == (10 if canary == "unhealthy" else 0)
    # The gate's bound: from the first canary config an agent received to the poll that saw the
    # pause (the apply timeout included for stall); the POST's own time; the controller's cost.
    assert 0 < fig["paused_after_first_config_s"] <= fig["rollout_s_until_paused"], fig
    assert 0 < fig["post_s"] < fig["rollout_s_until_paused"]
    cost = fig["controller"]
    assert cost["controller_cpu_s"] > 0, cost
    if canary == "stall":  # its agents never answer: (almost) nothing changes, heartbeats come
        assert (cost["us_per_change"] is None) == (cost["status_changes"] == 0), cost
    else:
        assert cost["status_changes"] >= 2 and cost["us_per_change"] > 0, cost


def test_canary_fail_is_the_fail_canary():
    sys.path.insert(0, str(ROOT / "Benchmarks"))
    from ampora_bench.cli import build_parser
    parse = build_parser().parse_args
    assert parse(["load", "--scenario", "rollout", "--canary-fail"]).canary == "fail"
    assert parse(["load", "--scenario", "rollout"]).canary is None


def test_refuses_addresses_off_loopback(tmp_path):
    run, _ = ampora_bench(tmp_path, "--scenario", "steady", "--target", "10.1.2.3:4320")
    assert run.returncode == 2 and "127.0.0.0/8" in run.stderr


# ---------------------------------------------------------------------------------------------
# A scripted OpAMP server with the README's operator API contract, for the push scenario.

class PushServer:
    def __init__(self):
        self.agents = {}        # uid -> [writer, status, hash]
        self.configs = {}       # name -> (yaml bytes, sha256)
        self.assignments = {}   # id -> hash
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.ws = await asyncio.start_server(self.agent, "127.0.0.1", 0)
            self.api = await asyncio.start_server(self.operator, "127.0.0.1", 0)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)

    @staticmethod
    def frame(msg):
        payload = b"\x00" + msg.SerializeToString()
        size = bytes([len(payload)]) if len(payload) < 126 else b"\x7e" + struct.pack(">H", len(payload))
        return b"\x82" + size + payload

    async def agent(self, reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        first = True
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", await reader.readexactly(2))[0]
                mask = await reader.readexactly(4)
                data = bytes(b ^ mask[i & 3] for i, b in enumerate(await reader.readexactly(n)))
                if b0 & 0x0F == 0x8:
                    break
                msg = opamp_pb2.AgentToServer()
                msg.ParseFromString(data[1:])
                entry = self.agents.setdefault(msg.instance_uid, [writer, 0, b""])
                if msg.HasField("remote_config_status") and msg.remote_config_status.status:
                    entry[1] = msg.remote_config_status.status
                    entry[2] = msg.remote_config_status.last_remote_config_hash
                reply = opamp_pb2.ServerToAgent(instance_uid=msg.instance_uid)
                if first:
                    reply.capabilities = 0x3F
                    first = False
                writer.write(self.frame(reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def operator(self, reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        method, path, _ = lines[0].split(" ")
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        body = await reader.readexactly(int(hdrs.get("content-length", "0")))
        status, obj = 404, {"error": {"code": "not_found", "message": path}}
        if method == "PUT" and path.startswith("/api/v1/configs/"):
            name = path.rsplit("/", 1)[1]
            self.configs[name] = (body, hashlib.sha256(body).digest())
            status, obj = 200, {"name": name, "hash": self.configs[name][1].hex()}
        elif method == "POST" and path == "/api/v1/assignments":
            req = json.loads(body)
            yaml, digest = self.configs[req["config"]]
            ident = str(uuid.uuid4())
            self.assignments[ident] = digest
            for uid, (w, _, _) in self.agents.items():
                push = opamp_pb2.ServerToAgent(instance_uid=uid)
                f = push.remote_config.config.config_map["collector.yaml"]
                f.body, f.content_type = yaml, "text/yaml"
                push.remote_config.config_hash = digest
                w.write(self.frame(push))
            status, obj = 201, {"id": ident, "config": req["config"], "hash": digest.hex()}
        elif method == "GET" and path.startswith("/api/v1/assignments/"):
            digest = self.assignments[path.rsplit("/", 1)[1]]
            mine = [a for a in self.agents.values() if a[2] == digest]
            applied = sum(1 for a in mine if a[1] == opamp_pb2.RemoteConfigStatuses_APPLIED)
            applying = sum(1 for a in mine if a[1] == opamp_pb2.RemoteConfigStatuses_APPLYING)
            status, obj = 200, {"id": "x", "targets": len(self.agents), "applied": applied, "applying": applying,
                                "failed": 0, "pending": len(self.agents) - applied - applying}
        data = json.dumps(obj).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % (status, len(data)) + data)
        await writer.drain()
        writer.close()


def test_push_scenario_against_the_operator_api_contract(tmp_path):
    srv = PushServer()
    try:
        opamp = "127.0.0.1:%d" % srv.ws.sockets[0].getsockname()[1]
        api = "127.0.0.1:%d" % srv.api.sockets[0].getsockname()[1]
        run, result = ampora_bench(tmp_path, "--scenario", "push", "--agents", "300", "--duration", "20",
                                   "--target", opamp, "--http", api, "--server-pid", str(os.getpid()))
        assert run.returncode == 0, run.stderr[-2000:]
        fig = result["figures"]
        assert result["ok"] and result["violations"] == 0
        assert 0 < fig["push_s_agents_view"] <= fig["push_s_server_view"] < 10
        assert fig["hashes_agents_saw"] == [fig["config_hash"]]
        assert fig["config_bytes"] >= 4000
        assert result["push_progress"][-1]["applied"] == 300
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# The suite's table and the plot, from result files (no server needed).

def _steady(peer, agents, rss, p99, cpu):
    return {"name": "steady-%d" % agents, "scenario": "steady", "peer": peer, "ok": True, "agents_target": agents,
            "agents_connected_max": agents, "command": "ampora-bench load --scenario steady",
            "figures": {"rss_per_agent_bytes": rss, "p99_us": p99, "cpu_ms_per_1000_msgs": cpu}}


def test_suite_ratios_and_plot(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "Benchmarks"))
    from ampora_bench import suite, svgplot

    runs = [_steady("ampora", 10000, 900.0, 3000, 15.0), _steady("echo-floor", 10000, 20.0, 2000, 10.0),
            _steady("ampora", 50000, 800.0, 4000, 14.0), _steady("echo-floor", 50000, 18.0, 3500, 12.0)]
    rows = suite.summarize(runs)
    cpu = [r for r in rows if r["name"] == "steady-10000" and r["figure"].startswith("server CPU")][0]
    assert (cpu["ampora"], cpu["floor"], cpu["ratio"]) == (15.0, 10.0, 1.5)
    md = suite.markdown(rows, {"mode": "--quick", "date": "d", "command": "c",
                               "machine": {"nproc": 2, "cpu": "x", "mem_gb": 1, "kernel": "k"}}, runs)
    assert "| server CPU per 1 000 heartbeats | 15 ms | 10 ms | 1.50× |" in md
    (tmp_path / "suite.json").write_text(json.dumps({"runs": runs}))
    svgplot.plot_files([str(tmp_path / "suite.json")], str(tmp_path / "plot.svg"), "t")
    svg = (tmp_path / "plot.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") == 8 and svg.count("<polyline") == 4


# ---- chaos scenarios (BENCHMARKS.md, "Chaos"): small, each well under a minute ---------------

def have_postgres():
    import glob
    import shutil
    return bool(shutil.which("psql")) and bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


def check_verdict(run, result):
    assert run.returncode == 0, run.stderr[-3000:]
    assert result["verdict"] == {"pass": True, "reasons": []}, result["verdict"]
    assert result["ok"] and result["violations"] == 0


def test_kill9_rebuilds_the_inventory_after_sigkill(tmp_path):
    # Killed right after every agent APPLIED: the agents' reports rebuild what the write-behind
    # had not stored yet; the inventory must hold every agent again, APPLIED, none twice.
    run, result = ampora_bench(tmp_path, "--scenario", "kill9", "--agents", "200", "--kill9-delay", "0",
                               "--duration", "60", "--ampora-bin", ampora_bin(), timeout=240)
    check_verdict(run, result)
    fig = result["figures"]
    assert fig["old_pid"] != fig["new_pid"]
    assert fig["final_facets"]["total"] == fig["final_facets"]["connected"] == 200
    assert fig["final_facets"]["configStates"]["APPLIED"] == 200
    assert fig["restart_s"] > 0 and fig["ready_to_all_agents_back_s"] >= 0


@pytest.mark.skipif(not have_postgres(), reason="no PostgreSQL server binaries or psql")
def test_pgkill_keeps_agents_and_loses_nothing(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "pgkill", "--agents", "200", "--outage", "3", "--kill-after", "0",
                               "--duration", "60", "--ampora-bin", ampora_bin(), timeout=240)
    check_verdict(run, result)
    fig = result["figures"]
    assert fig["db_agent_rows"] == fig["db_rows_applied_with_hash"] == 200
    assert 0.0 in fig["healthy_seen_during_outage"] and fig["flush_failures_during_outage"] > 0
    assert fig["operator_write_during_outage"].get("status") == 503
    assert not [p for p in os.listdir("/tmp") if p.startswith("ampora-bench-pg-")]   # cluster removed


@pytest.mark.skipif(os.geteuid() != 0, reason="diskfull mounts a tmpfs: root only")
def test_diskfull_fails_writes_clearly_and_catches_up(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "diskfull", "--agents", "200", "--outage", "3",
                               "--tmpfs-mb", "16", "--duration", "60", "--ampora-bin", ampora_bin(), timeout=240)
    check_verdict(run, result)
    fig = result["figures"]
    assert fig["db_agent_rows"] == fig["db_rows_applied_with_hash"] == 200
    assert any("database or disk is full" in line for line in fig["server_log_persistence_lines"])
    with open("/proc/mounts") as f:
        assert "ampora-bench-tmpfs-" not in f.read()       # unmounted


def test_soak_churns_pushes_and_plots(tmp_path):
    run, result = ampora_bench(tmp_path, "--scenario", "soak", "--agents", "200", "--per-worker", "50",
                               "--churn", "100", "--push-every", "0.25", "--sample-every", "2", "--duration", "35",
                               "--ampora-bin", ampora_bin(), timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    fig = result["figures"]
    assert fig["churned_agents"] >= 50 and result["reconnects"] >= 50
    assert fig["pushes"] and all("applied_s" in p for p in fig["pushes"])
    assert len(result["soak_series"]) >= 5
    # The SQLite heap is sampled beside RSS (it is the page cache, which grows with the database).
    assert all(x["sqlite_heap_kb"] > 0 for x in result["soak_series"])
    assert fig["sqlite_heap_last_kb"] > 0
    assert (tmp_path / "result.svg").read_text().startswith("<svg")
