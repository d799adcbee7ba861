"""The five load scenarios: each is a run of the C workers (../loadgen/run_load.py) plus a
controller that acts during the run (restart the server, push a config) and adds its figures."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types

from .operator_api import OperatorAPI, push_config_yaml
from .servers import LOADGEN, BenchError

sys.path.insert(0, LOADGEN)
import run_load  # noqa: E402  (the worker driver, also usable on its own)

# Defaults per scenario: agents, heartbeat s, duration s (upper bound), connects/s, transport.
DEFAULTS = {
    "connect": dict(agents=10000, heartbeat=30.0, duration=30.0, rate=20000.0, transport="ws"),
    "steady": dict(agents=10000, heartbeat=5.0, duration=40.0, rate=10000.0, transport="ws"),
    "storm": dict(agents=10000, heartbeat=10.0, duration=60.0, rate=20000.0, transport="ws"),
    "push": dict(agents=10000, heartbeat=30.0, duration=90.0, rate=10000.0, transport="ws"),
    "http": dict(agents=2000, heartbeat=2.0, duration=30.0, rate=5000.0, transport="http"),
    "rollout": dict(agents=10000, heartbeat=30.0, duration=120.0, rate=10000.0, transport="ws"),
    "api": dict(agents=10000, heartbeat=60.0, duration=600.0, rate=10000.0, transport="ws"),
}
SCENARIOS = tuple(DEFAULTS)


def _worker_time(result, key):
    """Latest of the workers' `key` timestamps (seconds after each worker started), as a
    monotonic time; None unless every worker reported one."""
    times = []
    for w in result.get("_workers", []):
        v = w["final"].get(key)
        if v is None or v < 0:
            return None
        times.append(w["launched"] + v)
    return max(times) if times else None


class _Base(run_load.Controller):
    def __init__(self, server, agents):
        super().__init__(server.pid if server else None)
        self.server = server
        self.agents = agents
        self.t_all = None          # monotonic time of the first sample with every agent connected
        self.error = None          # a BenchError raised in a scenario thread
        self.figures = {}

    def pid(self):
        return self.server.pid if self.server else None

    def on_sample(self, now, sample, workers):
        if self.t_all is None and sample["connected"] >= self.agents:
            self.t_all = now

    def finish(self, result):
        if self.error:
            result["scenario_error"] = str(self.error)
        result["figures"] = self.figures


class ConnectController(_Base):
    """Ends two seconds after every agent had its first reply."""

    def done(self):
        return self.t_all is not None and time.monotonic() > self.t_all + 2

    def finish(self, result):
        t = result.get("time_to_all_connected_s")
        self.figures.update(time_to_all_connected_s=t, handshakes_per_s=result.get("handshakes_per_s_during_ramp"))
        super().finish(result)


class SteadyController(_Base):
    def finish(self, result):
        srv = result.get("server", {})
        lat = result.get("latency_steady_us", {})
        self.figures.update(
            heartbeats_per_s=result.get("heartbeats_per_s"),
            cpu_ms_per_1000_msgs=round(srv["cpu_s_per_1000_msgs"] * 1000, 3) if srv.get("cpu_s_per_1000_msgs") else None,
            rss_per_agent_bytes=srv.get("rss_growth_per_agent_bytes"),
            p50_us=lat.get("p50"), p99_us=lat.get("p99"), p999_us=lat.get("p999"))
        super().finish(result)


class StormController(_Base):
    """Restarts the server `after` seconds past the full ramp; measures until every agent has
    had a first reply from the new process again."""

    def __init__(self, server, agents, after=3.0):
        super().__init__(server, agents)
        if not server or not server.owned:
            raise BenchError("storm restarts the server: let the harness start it (omit --target/--server-pid)")
        self.after = after
        self.phase = "ramp"
        self.t_kill = self.t_ready = self.t_back = None
        self.saw_drop = False
        self.old_pid = None

    def _restart(self):
        try:
            self.old_pid = self.server.pid
            self.t_kill = time.monotonic()
            self.server.stop()
            self.t_down = time.monotonic()
            self.server.restarts += 1
            self.server.start()
            self.t_ready = time.monotonic()
            self.phase = "reconnecting"
        except BenchError as e:
            self.error = e
            self.phase = "failed"

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + self.after:
            self.phase = "restarting"
            threading.Thread(target=self._restart, daemon=True).start()
        # 1 s samples can miss the drop itself: every agent must have reconnected at least once.
        reconnects = run_load.totals(workers, "reconnects")
        if self.t_kill is not None and (sample["connected"] < self.agents or reconnects >= self.agents):
            self.saw_drop = True
        if (self.phase == "reconnecting" and self.saw_drop and reconnects >= self.agents
                and sample["connected"] >= self.agents):
            self.phase = "back"
            self.t_back = now

    def status(self):
        return "| storm: %s" % self.phase

    def done(self):
        return self.phase == "failed" or (self.t_back is not None and time.monotonic() > self.t_back + 3)

    def finish(self, result):
        back = _worker_time(result, "last_all_connected_s")
        if self.t_ready is None or back is None or back < self.t_kill or (result.get("reconnects") or 0) < self.agents:
            self.error = self.error or BenchError(
                "storm: not every agent reconnected to the restarted server within the run "
                "(phase %s; raise --duration?)" % self.phase)
        else:
            self.figures.update(
                restart_s=round(self.t_ready - self.t_kill, 3),
                shutdown_s=round(self.t_down - self.t_kill, 3),
                reconnect_s_from_ready=round(back - self.t_ready, 3),
                reconnect_s_from_kill=round(back - self.t_kill, 3),
                reconnects_per_s=round(self.agents / max(back - self.t_ready, 1e-3), 1))
        # The restarted process from outside: its RSS and CPU over the reconnection (every
        # sample with its PID; the first is taken within a second of it being ready).
        new = [x for x in result.get("samples", []) if x.get("pid") == self.server.pid and "rss_kb" in x]
        if new and self.old_pid != self.server.pid:
            self.figures.update(
                new_server_rss_first_kb=new[0]["rss_kb"], new_server_rss_last_kb=new[-1]["rss_kb"],
                new_server_cpu_s=round(new[-1]["cpu_s"], 3),
                new_server_cpu_ms_per_reconnect=round(new[-1]["cpu_s"] * 1000 / max(self.agents, 1), 4))
        self.figures.update(old_pid=self.old_pid, new_pid=self.server.pid, reconnects=result.get("reconnects"),
                            errors_during_storm=result.get("errors"), rejected=result.get("rejected"))
        result["storm_phase"] = self.phase
        super().finish(result)


class PushController(_Base):
    """Assigns a pre-uploaded config to every agent (`selector: {}`) two seconds after the
    full ramp, and polls the assignment until all targets report APPLIED."""

    def __init__(self, server, agents, api, config_name, config_hash, timeout=60.0):
        super().__init__(server, agents)
        self.api = api
        self.config_name = config_name
        self.config_hash = config_hash
        self.timeout = timeout
        self.phase = "ramp"
        self.t_post = self.t_applied = None
        self.progress = []
        self.last = None
        self.assignment = None
        self.config_bytes = None

    def _push(self):
        try:
            self.t_post = time.monotonic()
            self.assignment = self.api.assign(self.config_name, {})
            self.phase = "pushing"
            deadline = self.t_post + self.timeout
            while time.monotonic() < deadline:
                st = self.api.assignment(self.assignment["id"])
                t = time.monotonic() - self.t_post
                self.last = st
                self.progress.append(dict(st, t=round(t, 3)))
                if st["targets"] >= self.agents and st["applied"] >= st["targets"]:
                    self.t_applied = time.monotonic()
                    self.phase = "applied"
                    return
                if st["failed"]:
                    raise BenchError("push: %d agents reported FAILED" % st["failed"])
                time.sleep(0.1)
            raise BenchError("push: not all agents APPLIED within %.0f s (last: %r)" % (self.timeout, self.last))
        except BenchError as e:
            self.error = e
            self.phase = "failed"

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + 2:
            self.phase = "posting"
            threading.Thread(target=self._push, daemon=True).start()

    def status(self):
        st = self.last or {}
        return "| push: %s applied %s/%s" % (self.phase, st.get("applied", "-"), st.get("targets", "-"))

    def done(self):
        return self.phase == "failed" or (self.t_applied is not None and time.monotonic() > self.t_applied + 1)

    def finish(self, result):
        agents_all = _worker_time(result, "rc_all_applied_s")
        hashes = {w["final"].get("rc_hash") for w in result.get("_workers", [])}
        if self.t_applied:
            self.figures["push_s_server_view"] = round(self.t_applied - self.t_post, 3)
        if agents_all and self.t_post:
            self.figures["push_s_agents_view"] = round(agents_all - self.t_post, 3)
        self.figures.update(config_hash=self.config_hash, hashes_agents_saw=sorted(h for h in hashes if h),
                            assignment=self.assignment, config_bytes=self.config_bytes)
        if self.phase == "applied" and hashes != {self.config_hash.lower()}:
            # Agents must report the server's hash: anything else is a protocol violation.
            result["violations"] = result.get("violations", 0) + 1
            self.error = BenchError("push: agents received config_hash %s, the API said %s"
                                    % (sorted(hashes), self.config_hash))
        result["push_progress"] = self.progress
        super().finish(result)


class Subscriber(threading.Thread):
    """One client of GET /api/v1/events, reading raw bytes (a Python line parser could not
    keep up with the server): counts events and `lost` notices, and notes when a rollout's
    progress frame saying `completed` arrived."""

    def __init__(self, hostport, token, query=""):
        super().__init__(daemon=True)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=600)
        self.sock.sendall(("GET /api/v1/events%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
                           % (query, hostport, token)).encode())
        self.events = self.lost = self.bytes = 0
        self.t_completed = None
        self.status = None
        self.start()

    def run(self):
        tail = b""
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    return
                if self.status is None:
                    self.status = int(data.split(b" ", 2)[1])
                self.bytes += len(data)
                chunk = tail + data
                self.events += chunk.count(b"\nevent: ") - tail.count(b"\nevent: ")
                self.lost += chunk.count(b"event: lost") - tail.count(b"event: lost")
                if self.t_completed is None and b'"state":"completed"' in chunk:
                    self.t_completed = time.monotonic()
                tail = chunk[-64:]
        except OSError:
            return

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RolloutController(_Base):
    """Two seconds after the full ramp, rolls a published version out to every agent in
    stages with no soak, and polls the rollout until it completes (or, with `canary_fail`, until
    the gate pauses it: the canary stage's config makes the agents report FAILED)."""

    def __init__(self, server, agents, api, config_name, version, stages, canary_fail, timeout=120.0,
                 subscribers=0, subscribe_kind=None):
        super().__init__(server, agents)
        self.subscriber_count = subscribers
        self.subscribe_query = "?kind=%s" % subscribe_kind if subscribe_kind else ""
        self.subscribers = []
        self.api = api
        self.config_name = config_name
        self.version = version
        self.stages = stages
        self.canary_fail = canary_fail
        self.timeout = timeout
        self.phase = "ramp"
        self.t_post = self.t_end = None
        self.progress = []
        self.last = None
        self.created = None

    def _roll(self):
        try:
            body = {"config": self.config_name, "version": self.version, "target": {"selector": {}},
                    "stages": self.stages, "soakSeconds": 0}
            if self.canary_fail:
                body["gates"] = {"maxFailed": "0%"}
            # By default everything the stream carries, to every subscriber: the heaviest case.
            self.subscribers = [Subscriber(self.server.http, self.api.token, self.subscribe_query)
                                for _ in range(self.subscriber_count)]
            time.sleep(0.5 if self.subscribers else 0)
            self.t_post = time.monotonic()
            self.created = self.api.rollout(body)
            self.phase = "rolling"
            deadline = self.t_post + self.timeout
            want = "paused" if self.canary_fail else "completed"
            while time.monotonic() < deadline:
                st = self.api.rollout_status(self.created["id"])
                self.last = st
                self.progress.append(dict(st["counts"], stage=st["stage"], state=st["state"],
                                          t=round(time.monotonic() - self.t_post, 3)))
                if st["state"] == want:
                    self.t_end = time.monotonic()
                    self.phase = want
                    return
                if st["state"] in ("paused", "aborted") and not self.canary_fail:
                    raise BenchError("rollout: %s: %s" % (st["state"], st.get("reason")))
                time.sleep(0.05)
            raise BenchError("rollout: not %s within %.0f s (last: %r)" % (want, self.timeout, self.last))
        except BenchError as e:
            self.error = e
            self.phase = "failed"

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + 2:
            self.phase = "posting"
            threading.Thread(target=self._roll, daemon=True).start()

    def status(self):
        st = (self.last or {}).get("counts", {})
        return "| rollout: %s stage %s applied %s failed %s" % (
            self.phase, (self.last or {}).get("stage", "-"), st.get("applied", "-"), st.get("failed", "-"))

    def done(self):
        return self.phase == "failed" or (self.t_end is not None and time.monotonic() > self.t_end + 1)

    def finish(self, result):
        if self.t_end:
            key = "rollout_s_until_paused" if self.canary_fail else "rollout_s_until_completed"
            self.figures[key] = round(self.t_end - self.t_post, 3)
        self.figures.update(rollout=self.created, final=self.last, stages=self.stages,
                            canary_fail=self.canary_fail)
        if self.subscribers:
            time.sleep(2)  # what is still in flight
            done = [x.t_completed for x in self.subscribers if x.t_completed]
            self.figures["subscribers"] = {
                "count": len(self.subscribers), "query": self.subscribe_query, "statuses": sorted({x.status for x in self.subscribers}),
                "events_min": min(x.events for x in self.subscribers),
                "events_max": max(x.events for x in self.subscribers),
                "lost_notices": sum(x.lost for x in self.subscribers),
                "bytes_total": sum(x.bytes for x in self.subscribers),
                "saw_completed": len(done),
                "completed_after_poll_s_max": round(max(done) - self.t_end, 3) if done and self.t_end else None,
            }
            for x in self.subscribers:
                x.close()
        result["rollout_progress"] = self.progress
        super().finish(result)


class ApiController(_Base):
    """Two seconds after the full ramp, times operator API listings with filters while the
    agents keep heartbeating: `rounds` of each query, one after another."""

    QUERIES = [
        ("one host", "/api/v1/agents?attr.host.name=loadgen-w0-17&limit=100"),
        ("every agent, first page", "/api/v1/agents?limit=100"),
        ("attribute matching all", "/api/v1/agents?attr.service.name=otelcol-loadgen&limit=100"),
        ("connected, page of 1000", "/api/v1/agents?connected=true&limit=1000"),
        ("config state", "/api/v1/agents?configState=FAILED&limit=100"),
        ("most recently seen first", "/api/v1/agents?sort=-lastSeen&limit=100"),
        ("overview counts", "/api/v1/agents/facets"),
        ("web UI overview page", "/"),
        ("web UI agents page", "/agents"),
    ]

    def __init__(self, server, agents, api, rounds):
        super().__init__(server, agents)
        self.api = api
        self.rounds = rounds
        self.phase = "ramp"
        self.t_end = None

    def _measure(self):
        try:
            for label, path in self.QUERIES:
                times, server = [], []
                html = not path.startswith("/api/")
                for _ in range(self.rounds):
                    t = time.monotonic()
                    if html:
                        status, size = self.api.page(path, timeout=60)
                        page = {"bytes": size}
                    else:
                        status, page = self.api._call("GET", path, timeout=60)
                    times.append(1000 * (time.monotonic() - t))
                    if self.api.last_server_ms is not None:
                        server.append(self.api.last_server_ms)

                def pct(values, q):
                    values = sorted(values)
                    return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else None

                # Server time (its Server-Timing header) is the goal's measure; the client's
                # round trip adds the Python client's own scheduling on a machine the load
                # generator keeps busy.
                self.figures[label] = {
                    "path": path, "total": page.get("total"), "items": len(page.get("items", [])),
                    "bytes": page.get("bytes"),
                    "server_p50_ms": pct(server, 0.5), "server_p99_ms": pct(server, 0.99),
                    "server_max_ms": pct(server, 1.0),
                    "client_p50_ms": pct(times, 0.5), "client_p99_ms": pct(times, 0.99), "requests": len(times)}
            self.figures["browser"] = self._browser()
            self.phase = "done"
            self.t_end = time.monotonic()
        except BenchError as e:
            self.error = e
            self.phase = "failed"

    def _browser(self):
        """The web UI's pages in a real browser (Benchmarks/scripts/ui_load.py), when the test
        environment (.venv with Playwright, Debian's chromium) is there; else why not."""
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        python = os.path.join(root, ".venv", "bin", "python")
        if not os.path.exists(python):
            return {"skipped": "no .venv (scripts/bootstrap.sh --test makes it)"}
        run = subprocess.run(
            [python, os.path.join(root, "Benchmarks", "scripts", "ui_load.py"), "--base", self.api.base,
             "--token", self.api.token or "", "--rounds", "10"], capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            return {"skipped": (run.stderr or run.stdout).strip()[-300:]}
        return json.loads(run.stdout)

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + 2:
            self.phase = "measuring"
            threading.Thread(target=self._measure, daemon=True).start()

    def status(self):
        return "| api: %s" % self.phase

    def done(self):
        return self.phase == "failed" or (self.t_end is not None and time.monotonic() > self.t_end + 1)


def run_scenario(scenario, server, opts):
    """Runs one scenario against `server` (started already); returns (result, exit status)."""
    d = DEFAULTS[scenario]
    agents = opts.agents or d["agents"]
    args = types.SimpleNamespace(
        target=server.opamp, server_pid=server.pid, agents=agents,
        heartbeat=opts.heartbeat or d["heartbeat"], duration=opts.duration or d["duration"],
        rate=opts.rate or d["rate"], out=None, per_worker=opts.per_worker, per_source=opts.per_source,
        first_source=opts.first_source, max_inflight=opts.max_inflight, settle=opts.settle,
        loadgen=os.path.join(LOADGEN, "opamp-load"), transport=d["transport"], quiet=opts.quiet)
    if scenario == "connect":
        ctl = ConnectController(server, agents)
    elif scenario in ("steady", "http"):
        ctl = SteadyController(server, agents)
    elif scenario == "storm":
        ctl = StormController(server, agents, after=opts.storm_after)
    elif scenario == "rollout":
        if not server.http:
            raise BenchError("rollout needs the server's operator address (--http HOST:PORT)")
        api = OperatorAPI(server.http, token=getattr(server, "admin_token", None))
        name = "ampora-bench-%d" % int(time.time())
        yaml_text = push_config_yaml(opts.config_bytes)
        if opts.canary_fail:
            yaml_text += "# ampora-bench-fail: agents of the load generator report this config FAILED\n"
        put = api.put_config(name, yaml_text)
        if opts.canary_fail:
            stages = [{"percent": 1}, {"percent": 100}]
        else:
            stages = [{"percent": round(100.0 * (i + 1) / opts.batches, 3)} for i in range(opts.batches)]
        ctl = RolloutController(server, agents, api, name, put["version"], stages, opts.canary_fail,
                                timeout=opts.push_timeout, subscribers=opts.subscribers,
                                subscribe_kind=opts.subscribe_kind)
    elif scenario == "api":
        if not server.http:
            raise BenchError("api needs the server's operator address (--http HOST:PORT)")
        ctl = ApiController(server, agents, OperatorAPI(server.http, token=getattr(server, "admin_token", None)),
                            rounds=opts.rounds)
    else:
        if not server.http:
            raise BenchError("push needs the server's operator address (--http HOST:PORT)")
        api = OperatorAPI(server.http, token=getattr(server, "admin_token", None))
        yaml_text = push_config_yaml(opts.config_bytes)
        name = "ampora-bench-%d" % int(time.time())
        put = api.put_config(name, yaml_text)       # fails clearly before any load if there is no API
        ctl = PushController(server, agents, api, name, put["hash"], timeout=opts.push_timeout)
        ctl.config_bytes = len(yaml_text)
    result, rc = run_load.run(args, ctl)
    result["scenario"] = scenario
    ok = rc == 0 and not result.get("scenario_error") and result["violations"] == 0
    if scenario != "storm" and result.get("agents_connected_max", 0) < agents:
        ok = False
        result.setdefault("scenario_error", "only %d of %d agents connected"
                          % (result.get("agents_connected_max", 0), agents))
    result["ok"] = ok
    if rc == 0 and not ok:
        rc = 1
    return result, rc
