"""The load scenarios: each is a run of the C workers (../loadgen/run_load.py) plus a
controller that acts during the run (restart the server, push a config) and adds its figures."""
import json
import math
import os
import signal
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

def percentile(values, q):
    """The `q` quantile of `values` by nearest rank (rounded to 0.1): the p99 of 100 values is
    the 99th smallest, not the largest; None for no values."""
    values = sorted(values)
    return round(values[max(0, math.ceil(len(values) * q) - 1)], 1) if values else None


# Defaults per scenario: agents, heartbeat s, duration s (upper bound), connects/s, transport.
DEFAULTS = {
    "connect": dict(agents=10000, heartbeat=30.0, duration=30.0, rate=20000.0, transport="ws"),
    "steady": dict(agents=10000, heartbeat=5.0, duration=40.0, rate=10000.0, transport="ws"),
    "storm": dict(agents=10000, heartbeat=10.0, duration=60.0, rate=20000.0, transport="ws"),
    "push": dict(agents=10000, heartbeat=30.0, duration=90.0, rate=10000.0, transport="ws"),
    "http": dict(agents=2000, heartbeat=2.0, duration=30.0, rate=5000.0, transport="http"),
    "rollout": dict(agents=10000, heartbeat=30.0, duration=120.0, rate=10000.0, transport="ws"),
    "api": dict(agents=10000, heartbeat=60.0, duration=600.0, rate=10000.0, transport="ws"),
    # Chaos (each bounded well under 3 min; the controller ends the run when its checks are done).
    "kill9": dict(agents=5000, heartbeat=5.0, duration=150.0, rate=5000.0, transport="ws"),
    "pgkill": dict(agents=5000, heartbeat=5.0, duration=150.0, rate=5000.0, transport="ws"),
    "diskfull": dict(agents=5000, heartbeat=5.0, duration=150.0, rate=5000.0, transport="ws"),
    "soak": dict(agents=2000, heartbeat=5.0, duration=600.0, rate=2000.0, transport="ws"),
}
CHAOS = ("kill9", "pgkill", "diskfull")
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


# The rollout's canaries: the marker the load generator's agents act on (../loadgen/opamp_load.c,
# RC_*_MARKER) and the gate that must pause the rollout for it.
CANARIES = {
    "fail": ("ampora-bench-fail", "agents of the load generator report this config FAILED", {"maxFailed": "0%"}),
    "stall": ("ampora-bench-stall", "agents of the load generator never answer this config", {"maxStalled": "0%"}),
    "unhealthy": ("ampora-bench-unhealthy", "agents of the load generator apply this config, then report unhealthy",
                  {"maxUnhealthy": "0%"}),
    # Rolled back agents count as failed for the gate. They need a config to go back to: the
    # harness first rolls the same config without the marker out to every agent.
    "rollback": ("ampora-bench-rollback", "agents of the load generator fail this config and go back to the one "
                 "before, as the Collector's Supervisor does", {"maxFailed": "0%"}),
}
# What the agents of each canary report, summed over the workers' final lines: the agents' view
# of who got the version.
AGENT_COUNTERS = ("rc_applied", "rc_failed", "rc_stalled", "rc_rolled_back", "unhealthy_reports")


class RolloutController(_Base):
    """Two seconds after the full ramp, rolls a published version out to every agent in
    stages (no soak unless `soak`), and polls the rollout until it completes (or, with a
    `canary`, until the gate pauses it: the canary stage's config makes the agents report
    FAILED, never answer, turn unhealthy after applying it, or fail it and go back to the config
    before; see CANARIES)."""

    def __init__(self, server, agents, api, config_name, version, stages, canary=None, timeout=120.0,
                 subscribers=0, subscribe_kind=None, soak=0, apply_timeout=None, after=2.0, base_version=None):
        super().__init__(server, agents)
        self.base_version = base_version
        self.base_s = None
        self.after = after
        self.post_s = None
        self.cpu_before = self.cpu_after = None
        self.subscriber_count = subscribers
        self.subscribe_query = "?kind=%s" % subscribe_kind if subscribe_kind else ""
        self.subscribers = []
        self.api = api
        self.config_name = config_name
        self.version = version
        self.stages = stages
        self.canary = canary
        self.soak = soak
        self.apply_timeout = apply_timeout
        self.timeout = timeout
        self.phase = "ramp"
        self.t_post = self.t_end = None
        self.progress = []
        self.last = None
        self.created = None

    def _roll(self):
        try:
            body = {"config": self.config_name, "version": self.version, "target": {"selector": {}},
                    "stages": self.stages, "soakSeconds": self.soak}
            if self.canary:
                body["gates"] = CANARIES[self.canary][2]
            # By default everything the stream carries, to every subscriber: the heaviest case.
            self.subscribers = [Subscriber(self.server.http, self.api.token, self.subscribe_query)
                                for _ in range(self.subscriber_count)]
            time.sleep(0.5 if self.subscribers else 0)
            if self.base_version is not None:
                self._roll_base()
            self.cpu_before = controller_metrics(self.api)
            self.t_post = time.monotonic()
            self.created = self.api.rollout(body)
            self.post_s = time.monotonic() - self.t_post
            self.phase = "rolling"
            deadline = self.t_post + self.timeout
            want = "paused" if self.canary else "completed"
            while time.monotonic() < deadline:
                st = self.api.rollout_status(self.created["id"])
                self.last = st
                self.progress.append(dict(st["counts"], stage=st["stage"], state=st["state"],
                                          t=round(time.monotonic() - self.t_post, 3)))
                if st["state"] == want:
                    self.t_end = time.monotonic()
                    self.cpu_after = controller_metrics(self.api)
                    self.phase = want
                    return
                if st["state"] in ("paused", "aborted") and not self.canary:
                    raise BenchError("rollout: %s: %s" % (st["state"], st.get("reason")))
                time.sleep(0.05)
            raise BenchError("rollout: not %s within %.0f s (last: %r)" % (want, self.timeout, self.last))
        except BenchError as e:
            self.error = e
            self.phase = "failed"
        except Exception as e:  # an API error, or a bug here: the run fails, it does not pass
            self.error = BenchError("rollout: %s: %s" % (type(e).__name__, e))
            self.phase = "failed"

    def _roll_base(self):
        """The version the rollback canary's agents go back to, to every agent at once."""
        self.phase = "base"
        t0 = time.monotonic()
        body = {"config": self.config_name, "version": self.base_version, "target": {"selector": {}},
                "stages": [{"percent": 100}], "soakSeconds": 0}
        base = self.api.rollout(body)
        while time.monotonic() < t0 + self.timeout:
            st = self.api.rollout_status(base["id"])
            if st["state"] == "completed":
                self.base_s = round(time.monotonic() - t0, 3)
                return
            if st["state"] in ("paused", "aborted"):
                raise BenchError("rollout of the base version: %s: %s" % (st["state"], st.get("reason")))
            time.sleep(0.1)
        raise BenchError("rollout of the base version: not completed within %.0f s" % self.timeout)

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + self.after:
            self.phase = "posting"
            threading.Thread(target=self._roll, daemon=True).start()

    def status(self):
        st = (self.last or {}).get("counts", {})
        return "| rollout: %s stage %s applied %s failed %s stalled %s unhealthy %s" % (
            self.phase, (self.last or {}).get("stage", "-"), st.get("applied", "-"), st.get("failed", "-"),
            st.get("stalled", "-"), st.get("unhealthy", "-"))

    def done(self):
        return self.phase == "failed" or (self.t_end is not None and time.monotonic() > self.t_end + 1)

    def finish(self, result):
        if self.t_end:
            key = "rollout_s_until_paused" if self.canary else "rollout_s_until_completed"
            self.figures[key] = round(self.t_end - self.t_post, 3)
        self.figures.update(rollout=self.created, final=self.last, stages=self.stages, soak_s=self.soak,
                            canary=self.canary, canary_fail=self.canary == "fail", after_s=self.after,
                            post_s=round(self.post_s, 3) if self.post_s is not None else None)
        if self.base_version is not None:
            self.figures.update(base_version=self.base_version, base_rollout_s=self.base_s)
        if self.cpu_before and self.cpu_after:
            self.figures["controller"] = controller_cost(self.cpu_before, self.cpu_after)
        if self.canary:
            self.figures.update(self._canary_figures(result))
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

    def _canary_figures(self, result):
        """Why the rollout paused, and who got the version: the server's counts of the canary
        stage and of the stages after it (not started: all pending), and the agents' own."""
        last = self.last or {}
        stages = last.get("stageCounts") or []
        later = stages[1:]
        agents_view = {k: sum(w["final"].get(k, 0) for w in result.get("_workers", [])) for k in AGENT_COUNTERS}
        return {
            "gates": CANARIES[self.canary][2],
            # None: the server's own (300 s unless started by someone else with another).
            "apply_timeout_s": self.apply_timeout,
            "pause_reason": last.get("reason") if last.get("state") == "paused" else None,
            "canary_stage": stages[0] if stages else None,
            "outside_canary": {
                "targets": sum(c.get("targets", 0) for c in later),
                "pending": sum(c.get("pending", 0) for c in later),
                # Anything but pending: sent the version (or found running it).
                "got_version": sum(c.get("targets", 0) - c.get("pending", 0) for c in later),
            },
            "agents_view": agents_view,
            "paused_after_first_config_s": self._paused_after_first_config(result),
        }

    def _paused_after_first_config(self, result):
        """From the first time any agent received the canary's config (the load generator's
        CLOCK_MONOTONIC, the clock of time.monotonic()) to the poll that saw the rollout paused:
        an upper bound on the time from the gate tripping to the pause, which includes the
        agents' answers, their ingest and the poll's own interval. For the stall canary the apply
        timeout is in it too."""
        firsts = [w["final"].get("rc_first_monotonic_s", -1) for w in result.get("_workers", [])]
        firsts = [t for t in firsts if t > 0]
        if not firsts or not self.t_end:
            return None
        return round(self.t_end - min(firsts), 3)


class ApiController(_Base):
    """`after` seconds after the full ramp (2 by default: while the server may still be taking
    in the ramp), times operator API listings with filters while the agents keep heartbeating:
    `rounds` of each query, one after another."""

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

    def __init__(self, server, agents, api, rounds, after=2.0):
        super().__init__(server, agents)
        self.api = api
        self.rounds = rounds
        self.after = after
        self.phase = "ramp"
        self.t_end = None

    def _measure(self):
        try:
            for label, path in self.QUERIES:
                times, server, when = [], [], []
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
                        when.append((round(t - self.t_all, 3), self.api.last_server_ms, round(t, 3)))

                # Server time (its Server-Timing header) is the goal's measure; the client's
                # round trip adds the Python client's own scheduling on a machine the load
                # generator keeps busy.
                self.figures[label] = {
                    "path": path, "total": page.get("total"), "items": len(page.get("items", [])),
                    "bytes": page.get("bytes"),
                    "server_p50_ms": percentile(server, 0.5), "server_p99_ms": percentile(server, 0.99),
                    "server_max_ms": percentile(server, 1.0),
                    "client_p50_ms": percentile(times, 0.5), "client_p99_ms": percentile(times, 0.99), "requests": len(times),
                    # The five slowest (seconds after every agent was connected, server ms,
                    # CLOCK_MONOTONIC to match other samplers): a tail that recurs at a fixed
                    # period points at periodic work in the server.
                    "slowest": sorted(when, key=lambda x: -x[1])[:5]}
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
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + self.after:
            self.phase = "measuring"
            threading.Thread(target=self._measure, daemon=True).start()

    def status(self):
        return "| api: %s" % self.phase

    def done(self):
        return self.phase == "failed" or (self.t_end is not None and time.monotonic() > self.t_end + 1)


CONTROLLER_METRICS = ("ampora_fleet_status_changes_total", "ampora_fleet_ingest_cpu_seconds_total",
                      "ampora_rollout_controller_cpu_seconds_total")


def controller_metrics(api):
    """The counters behind the controller's cost per status change (None if /metrics is closed)."""
    try:
        values = scrape_metrics(api, "ampora_")
    except (OSError, ValueError):
        return None
    return {name: values.get(name, 0.0) for name in CONTROLLER_METRICS}


def controller_cost(before, after):
    """CPU per status change while the rollout ran: the ingest thread applying changes (the
    inventory, config states and rollout counters) and the controller's passes, as the server's
    thread clocks count them. The writer's database work is not in it."""
    d = {name: after[name] - before[name] for name in CONTROLLER_METRICS}
    changes = d["ampora_fleet_status_changes_total"]
    cpu = d["ampora_fleet_ingest_cpu_seconds_total"] + d["ampora_rollout_controller_cpu_seconds_total"]
    return {
        "status_changes": int(changes),
        "ingest_cpu_s": round(d["ampora_fleet_ingest_cpu_seconds_total"], 4),
        "controller_cpu_s": round(d["ampora_rollout_controller_cpu_seconds_total"], 4),
        "us_per_change": round(cpu / changes * 1e6, 3) if changes else None,
    }


def rollout_soak(opts):
    """Seconds between stages: --soak, else 10 for the unhealthy canary (its agents report their
    health in the message after APPLIED: without a soak the stage could end, and the next start,
    between the two), else 0."""
    soak = getattr(opts, "soak", None)
    if soak is not None:
        return soak
    return 10 if getattr(opts, "canary", None) == "unhealthy" else 0


def rollout_apply_timeout(opts):
    """The --config-apply-timeout (s) of a server the harness starts: --apply-timeout, else 5 for
    the stall canary (the server's default, 300 s, would hold the run), else the server's."""
    t = getattr(opts, "apply_timeout", None)
    if t is not None:
        return t
    return 5 if getattr(opts, "canary", None) == "stall" else None


def run_scenario(scenario, server, opts):
    """Runs one scenario against `server` (started already); returns (result, exit status)."""
    d = DEFAULTS[scenario]
    agents = opts.agents or d["agents"]
    args = types.SimpleNamespace(
        target=server.opamp, server_pid=server.pid, agents=agents,
        heartbeat=opts.heartbeat or d["heartbeat"], duration=opts.duration or d["duration"],
        rate=opts.rate or d["rate"], out=None, per_worker=opts.per_worker, per_source=opts.per_source,
        first_source=opts.first_source, max_inflight=opts.max_inflight, settle=opts.settle,
        loadgen=os.path.join(LOADGEN, "opamp-load"), transport=d["transport"], quiet=opts.quiet,
        attributes=getattr(opts, "attributes", 3), loadgen_nice=getattr(opts, "loadgen_nice", 0))
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
        canary = getattr(opts, "canary", None)
        base_version = None
        if canary == "rollback":
            base_version = api.put_config(name, yaml_text)["version"]
        if canary:
            yaml_text += "# %s: %s\n" % CANARIES[canary][:2]
        put = api.put_config(name, yaml_text)
        if canary:
            stages = [{"percent": 1}, {"percent": 100}]
        else:
            stages = [{"percent": round(100.0 * (i + 1) / opts.batches, 3)} for i in range(opts.batches)]
        ctl = RolloutController(server, agents, api, name, put["version"], stages, canary,
                                timeout=opts.push_timeout, subscribers=opts.subscribers,
                                subscribe_kind=opts.subscribe_kind, soak=rollout_soak(opts),
                                apply_timeout=server.apply_timeout, after=opts.api_after,
                                base_version=base_version)
    elif scenario in CHAOS:
        if not getattr(server, "owned", False):
            raise BenchError("%s kills things: let the harness start the server (omit --target)" % scenario)
        api = OperatorAPI(server.http, token=getattr(server, "admin_token", None))
        name = "ampora-bench-%d" % int(time.time())
        put = api.put_config(name, push_config_yaml(opts.config_bytes))
        common = dict(timeout=opts.push_timeout)
        if scenario == "kill9":
            ctl = Kill9Controller(server, agents, api, name, put["hash"], kill_delay=opts.kill9_delay, **common)
        elif scenario == "pgkill":
            ctl = PgKillController(server, agents, api, name, put["hash"], pg=opts.chaos_pg, outage=opts.outage,
                                   kill_after=opts.kill_after, **common)
        else:
            ctl = DiskFullController(server, agents, api, name, put["hash"], fs_path=opts.chaos_fs,
                                     db_path=opts.chaos_db_path, outage=opts.outage, **common)
    elif scenario == "soak":
        api = OperatorAPI(server.http, token=getattr(server, "admin_token", None))
        ctl = SoakController(server, agents, api, opts.churn, opts.push_every, opts.sample_every,
                             opts.config_bytes, opts.push_timeout, duration=args.duration)
    elif scenario == "api":
        if not server.http:
            raise BenchError("api needs the server's operator address (--http HOST:PORT)")
        ctl = ApiController(server, agents, OperatorAPI(server.http, token=getattr(server, "admin_token", None)),
                            rounds=opts.rounds, after=opts.api_after)
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
    if scenario in CHAOS and not result.get("verdict", {}).get("pass"):
        ok = False
    if scenario == "soak":
        from .svgplot import render_series
        result["soak_svg"] = render_series(
            "ampora-bench soak: %d agents, %g %% churn/min, a push every %g min" % (agents, opts.churn, opts.push_every),
            [(x["t"], x["rss_kb"] / 1024) for x in result.get("soak_series", []) if x.get("rss_kb")],
            [(x["t"], x["p99_us_max_worker"] / 1000) for x in result.get("soak_series", []) if x.get("p99_us_max_worker")],
            "p99: the largest of the workers' 1 s interval p99s; RSS of the server process (/proc VmRSS)")
    if scenario not in ("storm", "soak") and result.get("agents_connected_max", 0) < agents:
        ok = False
        result.setdefault("scenario_error", "only %d of %d agents connected"
                          % (result.get("agents_connected_max", 0), agents))
    result["ok"] = ok
    if rc == 0 and not ok:
        rc = 1
    return result, rc


# ---------------------------------------------------------------------------------------------
# Chaos: kill -9, PostgreSQL killed during a push, a full disk (BENCHMARKS.md, "Chaos").

def scrape_metrics(api, prefix):
    """GET /metrics (open unless --metrics-require-token): the series starting with `prefix`, by
    name without the prefix's labels."""
    import urllib.request
    with urllib.request.urlopen(api.base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            name, _, value = line.rpartition(" ")
            try:
                out[name.split("{")[0]] = float(value)
            except ValueError:
                pass
    return out


def _metrics(api):
    """The persistence gauges and counters of GET /metrics."""
    prefix = "ampora_persistence_"
    return {name[len(prefix):]: value for name, value in scrape_metrics(api, prefix).items()}


def _readyz(api):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(api.base + "/readyz", timeout=10) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace").strip()


def applied_blob(config_hash):
    """The bytes of a stored RemoteConfigStatus (protobuf, opamp.proto) saying APPLIED with this
    hash: field 1 `last_remote_config_hash` (bytes), field 2 `status` = 1 (APPLIED)."""
    h = bytes.fromhex(config_hash)
    return b"\x0a" + bytes([len(h)]) + h + b"\x10\x01"


class _ChaosBase(_Base):
    """One background thread does the scenario's steps (push, kill, wait, check) once every agent
    is connected; the 1 s samples track connections and replies. `reasons` collects every failed
    check: an empty list is a pass."""

    name = "chaos"

    def __init__(self, server, agents, api, config_name, config_hash, timeout, after=2.0):
        super().__init__(server, agents)
        self.api = api
        self.config_name = config_name
        self.config_hash = config_hash
        self.timeout = timeout
        self.after = after
        self.phase = "ramp"
        self.t_end = None
        self.reasons = []
        self.events = []          # (t since all connected, what happened)
        self.watch = []           # the metrics and /readyz seen during the fault
        self.assignment = None
        self.connected_min_after_all = None
        self.reconnects_at = {}
        self.replies_at = {}
        self.last_sample = None
        self.t_applied_seen = None

    def event(self, what, **kw):
        t = round(time.monotonic() - self.t_all, 3) if self.t_all else None
        self.events.append(dict(kw, t=t, what=what))

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        self.last_sample = dict(sample, reconnects=run_load.totals(workers, "reconnects"),
                                errors=run_load.totals(workers, "errors"),
                                timeouts=run_load.totals(workers, "timeouts"))
        if self.t_all is not None and self.phase not in ("ramp", "posting"):
            c = sample["connected"]
            self.connected_min_after_all = c if self.connected_min_after_all is None else min(self.connected_min_after_all, c)
        if self.phase == "ramp" and self.t_all is not None and now >= self.t_all + self.after:
            self.phase = "running"
            threading.Thread(target=self._guarded, daemon=True).start()

    def _guarded(self):
        try:
            self.steps()
            self.phase = "done"
        except BenchError as e:
            self.error = e
            self.reasons.append(str(e))
            self.phase = "failed"
        except Exception as e:   # a harness bug must still end the run with its reason
            self.error = BenchError("%s: %r" % (self.name, e))
            self.reasons.append(str(self.error))
            self.phase = "failed"
        self.t_end = time.monotonic()

    def mark(self, key):
        """Workers' counters now (for deltas over a phase)."""
        s = self.last_sample or {}
        self.reconnects_at[key] = s.get("reconnects", 0)
        self.replies_at[key] = s.get("replies", 0)
        return s

    def wait_applied(self, api, deadline, what):
        while time.monotonic() < deadline:
            try:
                st = api.assignment(self.assignment["id"])
            except BenchError:
                time.sleep(0.3)
                continue
            if st["targets"] >= self.agents and st["applied"] >= st["targets"]:
                return st
            time.sleep(0.2)
        raise BenchError("%s: not every agent APPLIED within the time bound" % what)

    def watch_once(self, api, label):
        entry = {"t": round(time.monotonic() - self.t_all, 3), "label": label}
        try:
            entry["metrics"] = _metrics(api)
            entry["readyz"] = _readyz(api)
            entry["assignment"] = a = api.assignment(self.assignment["id"])
            if self.t_applied_seen is None and a["targets"] >= self.agents and a["applied"] >= a["targets"]:
                self.t_applied_seen = time.monotonic()     # polled every 0.5 s during the fault
                entry["push_complete"] = True
        except Exception as e:
            entry["error"] = str(e)
        self.watch.append(entry)
        return entry

    def wait_healthy(self, api, deadline):
        """Until writes succeed again and nothing waits to be written."""
        while time.monotonic() < deadline:
            e = self.watch_once(api, "recovering")
            m = e.get("metrics", {})
            if m.get("healthy") == 1 and m.get("backlog_rows") == 0:
                return e
            time.sleep(0.5)
        raise BenchError("%s: the database writes did not recover (healthy 1, backlog 0) in time" % self.name)

    def watch_fault(self, label, until):
        """The metrics, /readyz and assignment every 0.5 s while the fault lasts."""
        seen = []
        while time.monotonic() < until:
            seen.append(self.watch_once(self.api, label))
            time.sleep(0.5)
        return seen

    @staticmethod
    def fault_figures(seen):
        """What the server said during the fault: persistence health values, the most flush
        failures counted, and the distinct /readyz answers."""
        return (sorted({e.get("metrics", {}).get("healthy") for e in seen} - {None}),
                max((e.get("metrics", {}).get("flush_failures_total", 0) for e in seen), default=0),
                sorted({"%s %s" % tuple(e["readyz"]) for e in seen if "readyz" in e}))

    def recover(self):
        """Once the fault is gone: every agent APPLIED and the writes healthy again; returns the
        assignment's final state and the healthy watch entry."""
        self.phase = "recovering"
        st = self.wait_applied(self.api, self.t_post + self.timeout, "%s (push)" % self.name)
        self.t_push_done = self.t_applied_seen or time.monotonic()
        self.figures["push_complete_before_the_fault_ended"] = self.t_applied_seen is not None
        healthy = self.wait_healthy(self.api, time.monotonic() + 60)
        self.t_healthy = time.monotonic()
        self.event("writes recovered", metrics=healthy.get("metrics"))
        self.phase = "checking"
        return st, healthy

    def status(self):
        return "| %s: %s" % (self.name, self.phase)

    def done(self):
        return self.phase in ("failed", "done") and self.t_end is not None and time.monotonic() > self.t_end + 1

    def finish(self, result):
        if self.phase not in ("done", "failed"):
            self.reasons.append("%s: the run ended in phase %s (raise --duration?)" % (self.name, self.phase))
        if result.get("violations"):
            self.reasons.append("protocol violations: %d" % result["violations"])
        if self.reasons and not self.error:
            self.error = BenchError("; ".join(self.reasons))
        elif self.reasons and str(self.error) != "; ".join(self.reasons):
            self.error = BenchError("; ".join(self.reasons))
        result["verdict"] = {"pass": not self.reasons, "reasons": self.reasons}
        result["chaos_events"] = self.events
        result["chaos_watch"] = self.watch
        self.figures.update(config_hash=self.config_hash, assignment=self.assignment,
                            connected_min_after_all=self.connected_min_after_all,
                            reconnects=result.get("reconnects"), agent_errors=result.get("errors"))
        super().finish(result)


class Kill9Controller(_ChaosBase):
    """Pushes a config to every agent until APPLIED, then SIGKILLs the server under load, starts
    it again on the same ports and database, and times: kill → ready, ready → every agent back,
    ready → the REST API's inventory complete (every agent, connected, APPLIED, the assignment
    kept)."""

    name = "kill9"

    def __init__(self, *a, kill_delay=1.0, **kw):
        super().__init__(*a, **kw)
        self.kill_delay = kill_delay

    def steps(self):
        self.t_post = time.monotonic()
        self.assignment = self.api.assign(self.config_name, {})
        self.event("assigned", id=self.assignment["id"])
        st = self.wait_applied(self.api, self.t_post + self.timeout, "kill9 (before the kill)")
        self.figures["push_s_before_kill"] = round(time.monotonic() - self.t_post, 3)
        self.event("applied", applied=st["applied"])
        # Heartbeats on the pushed state first (default 1 s); 0 kills before the write-behind
        # (WriterThread.swift) may have stored the APPLIED reports: the agents must rebuild them.
        time.sleep(self.kill_delay)
        self.old_pid = self.server.pid
        self.mark("kill")
        self.t_kill = time.monotonic()
        self.server.kill9()
        self.event("killed", pid=self.old_pid)
        self.phase = "restarting"
        self.server.restarts += 1
        deadline = time.monotonic() + 30
        while True:                # a port still held by the dead process: retry for 30 s
            try:
                self.server.start()
                break
            except BenchError as e:
                if time.monotonic() > deadline:
                    raise BenchError("kill9: the server did not start again: %s" % e)
                self.event("restart retry", error=str(e)[-200:])
                time.sleep(0.5)
        self.t_ready = time.monotonic()
        self.event("ready", pid=self.server.pid)
        self.phase = "reconnecting"
        api = OperatorAPI(self.server.http, token=self.server.admin_token)
        first = {}
        deadline = self.t_ready + self.timeout
        facets = st = None
        while time.monotonic() < deadline:
            try:
                facets = api._call("GET", "/api/v1/agents/facets")[1]
                st = api.assignment(self.assignment["id"])
            except BenchError as e:
                self.event("api error", error=str(e)[-200:])
                time.sleep(0.3)
                continue
            now = time.monotonic() - self.t_ready
            if "inventory_total_at_ready" not in first:
                first["inventory_total_at_ready"] = facets["total"]
                first["applied_at_ready"] = facets["configStates"].get("APPLIED")
            if facets["total"] >= self.agents:
                first.setdefault("inventory_total", now)
            if facets["connected"] >= self.agents:
                first.setdefault("api_connected", now)
            if facets["configStates"].get("APPLIED", 0) >= self.agents:
                first.setdefault("applied", now)
            if st["targets"] >= self.agents and st["applied"] >= st["targets"]:
                first.setdefault("assignment_applied", now)
            back = (self.last_sample or {}).get("reconnects", 0) - self.reconnects_at["kill"] >= self.agents
            if back and (self.last_sample or {}).get("connected", 0) >= self.agents:
                first.setdefault("agents_back_sampled", now)
            if all(k in first for k in ("inventory_total", "api_connected", "applied", "assignment_applied",
                                        "agents_back_sampled")):
                break
            time.sleep(0.2)
        self.final_facets, self.final_assignment, self.first = facets, st, first
        r = lambda k: round(first[k], 3) if k in first else None  # noqa: E731
        self.figures.update(
            restart_s=round(self.t_ready - self.t_kill, 3),
            ready_to_inventory_total_s=r("inventory_total"), ready_to_api_connected_s=r("api_connected"),
            ready_to_all_applied_s=r("applied"), ready_to_assignment_applied_s=r("assignment_applied"),
            inventory_total_at_ready=first.get("inventory_total_at_ready"),
            applied_in_inventory_at_ready=first.get("applied_at_ready"),
            final_facets=facets, final_assignment=st, old_pid=self.old_pid, new_pid=self.server.pid)
        if facets is None or facets["total"] != self.agents:
            self.reasons.append("kill9: inventory after restart has %s agents, expected %d"
                                % (facets and facets["total"], self.agents))
        for k, what in (("api_connected", "connected per the API"), ("applied", "APPLIED per the inventory"),
                        ("assignment_applied", "APPLIED per the assignment"),
                        ("agents_back_sampled", "reconnected per the load generator")):
            if k not in first:
                self.reasons.append("kill9: not every agent %s within %.0f s of ready" % (what, self.timeout))

    def finish(self, result):
        back = _worker_time(result, "last_all_connected_s")
        if getattr(self, "t_ready", None) and back and back > self.t_kill:
            self.figures["ready_to_all_agents_back_s"] = round(back - self.t_ready, 3)
            self.figures["kill_to_all_agents_back_s"] = round(back - self.t_kill, 3)
        elif getattr(self, "t_ready", None):
            self.reasons.append("kill9: the load generator did not see every agent back after the kill")
        hashes = {w["final"].get("rc_hash") for w in result.get("_workers", [])}
        self.figures["hashes_agents_saw"] = sorted(h for h in hashes if h)
        if hashes != {self.config_hash.lower()}:
            self.reasons.append("kill9: agents hold config hashes %s, the API said %s" % (sorted(hashes), self.config_hash))
        super().finish(result)


class PgKillController(_ChaosBase):
    """PostgreSQL backend: assigns a config to every agent, kills PostgreSQL (`pg_ctl stop -m
    immediate`) `kill_after` s later, in the middle of the push, keeps it down `outage` s,
    starts it again; checks the server stays up, the agents connected, the failure visible
    (metrics, /readyz), the push complete, and every agent's row in PostgreSQL (psql) holding
    the hash it reported APPLIED once the backlog is written."""

    name = "pgkill"

    def __init__(self, *a, pg=None, outage=5.0, kill_after=0.3, **kw):
        super().__init__(*a, **kw)
        self.pg = pg
        self.outage = outage
        self.kill_after = kill_after

    def steps(self):
        self.t_post = time.monotonic()
        self.assignment = self.api.assign(self.config_name, {})
        self.event("assigned", id=self.assignment["id"])
        time.sleep(self.kill_after)
        at_kill = self.api.assignment(self.assignment["id"])
        self.mark("kill")
        self.t_pg_kill = time.monotonic()
        self.pg.kill()
        self.event("postgres killed", applied_at_kill=at_kill["applied"], targets=at_kill["targets"])
        self.figures["applied_when_postgres_killed"] = at_kill["applied"]
        self.phase = "postgres down"
        self.probe = self.probe_write()
        self.event("operator write while postgres is down", **self.probe)
        down = self.watch_fault("postgres down", self.t_pg_kill + self.outage)
        self.mark("resume")
        self.pg.resume()
        self.t_pg_up = time.monotonic()
        self.event("postgres started again")
        st, healthy = self.recover()
        # What PostgreSQL holds once the server says everything is written (the server keeps
        # running: no shutdown flush can hide a lost write).
        blob = applied_blob(self.config_hash).hex()
        rows = int(self.pg.psql("SELECT count(*) FROM agents WHERE deleted_at IS NULL"))
        good = int(self.pg.psql("SELECT count(*) FROM agents WHERE deleted_at IS NULL AND "
                                "position(decode('%s','hex') in remote_config_status) > 0" % blob))
        if self.probe.get("id"):
            # The API acknowledged an assignment while PostgreSQL was down: it must be there now.
            self.probe["in_postgres_after_recovery"] = int(self.pg.psql(
                "SELECT count(*) FROM assignments WHERE id = '%s'" % self.probe["id"].replace("'", "")))
            if not self.probe["in_postgres_after_recovery"]:
                self.reasons.append("pgkill: assignment %s was acknowledged during the outage and is not in PostgreSQL"
                                    % self.probe["id"])
        if self.probe.get("hung"):
            self.reasons.append("pgkill: POST /api/v1/assignments hung while PostgreSQL was down (%s)" % self.probe)
        self.figures["operator_write_during_outage"] = self.probe
        health_seen, flush_failures, readyz = self.fault_figures(down)
        self.figures.update(
            push_s=round(self.t_push_done - self.t_post, 3), outage_s=round(self.t_pg_up - self.t_pg_kill, 3),
            writes_recovered_s_after_postgres_up=round(self.t_healthy - self.t_pg_up, 3),
            db_agent_rows=rows, db_rows_applied_with_hash=good, final_assignment=st,
            healthy_seen_during_outage=health_seen, flush_failures_during_outage=flush_failures,
            readyz_during_outage=readyz,
            flush_failures_total=healthy.get("metrics", {}).get("flush_failures_total"))
        if at_kill["applied"] >= self.agents:
            # Nothing left to write may mean nothing failed: the checks below cannot judge then.
            self.reasons.append("pgkill: the push was complete before PostgreSQL was killed (lower --kill-after)")
        if 0 not in self.figures["healthy_seen_during_outage"]:
            self.reasons.append("pgkill: ampora_persistence_healthy never went 0 while PostgreSQL was down")
        if not self.figures["flush_failures_during_outage"]:
            self.reasons.append("pgkill: no flush failure counted while PostgreSQL was down")
        if not any("degraded" in r for r in self.figures["readyz_during_outage"]):
            self.reasons.append("pgkill: /readyz never said the database was degraded")
        if rows != self.agents or good != self.agents:
            self.reasons.append("pgkill: PostgreSQL has %d agent rows, %d with the APPLIED hash; expected %d"
                                % (rows, good, self.agents))

    def probe_write(self):
        """An operator write needing the database (a second assignment of the same config to one
        agent label that matches nobody) while PostgreSQL is down: a clear refusal is right, a
        hang (> 15 s) is not, and an acknowledgement must survive (checked after recovery)."""
        import urllib.error
        import urllib.request
        body = json.dumps({"config": self.config_name, "selector": {"ampora-bench": "nobody"}}).encode()
        req = urllib.request.Request(self.api.base + "/api/v1/assignments", data=body, method="POST",
                                     headers={"Authorization": "Bearer %s" % self.api.token,
                                              "Content-Type": "application/json"})
        t = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                obj = json.loads(resp.read() or b"null")
                return {"status": resp.status, "id": (obj or {}).get("id"), "s": round(time.monotonic() - t, 3)}
        except urllib.error.HTTPError as e:
            return {"status": e.code, "body": e.read()[:300].decode(errors="replace"), "s": round(time.monotonic() - t, 3)}
        except (urllib.error.URLError, OSError) as e:
            return {"error": str(e), "hung": "timed out" in str(e), "s": round(time.monotonic() - t, 3)}

    def finish(self, result):
        if self.server.proc is None or self.server.proc.poll() is not None:
            self.reasons.append("pgkill: the server exited (status %s)" % (self.server.proc and self.server.proc.returncode))
        drops = (result.get("reconnects") or 0)
        self.figures["agent_reconnects"] = drops
        if drops:
            self.reasons.append("pgkill: %d agent reconnects (agents must stay connected)" % drops)
        log = self.server.log_text()
        self.figures["server_log_persistence_lines"] = [l for l in log.splitlines() if "database" in l][:10]
        super().finish(result)


class DiskFullController(_ChaosBase):
    """SQLite on a small tmpfs: assigns a config to every agent and at once fills the rest of
    the tmpfs with a filler file, so the writes of the agents' new states hit ENOSPC; keeps it
    full `outage` s while the agents heartbeat, deletes the filler, and checks the writes
    recover and the SQLite file (read with Python's sqlite3) holds every agent APPLIED."""

    name = "diskfull"

    def __init__(self, *a, fs_path=None, db_path=None, outage=10.0, **kw):
        super().__init__(*a, **kw)
        self.fs_path = fs_path
        self.db_path = db_path
        self.outage = outage

    def fill(self):
        path = os.path.join(self.fs_path, "filler")
        written = 0
        chunk = b"\0" * (1 << 20)
        with open(path, "wb", buffering=0) as f:
            while True:
                try:
                    written += f.write(chunk)
                except OSError as e:
                    if e.errno != 28:   # ENOSPC
                        raise
                    # the last bytes of a partly filled page
                    for size in (65536, 4096, 512, 1):
                        while True:
                            try:
                                written += f.write(b"\0" * size)
                            except OSError:
                                break
                    return path, written

    def steps(self):
        self.t_post = time.monotonic()
        self.assignment = self.api.assign(self.config_name, {})
        self.event("assigned", id=self.assignment["id"])
        self.filler, size = self.fill()
        st = os.statvfs(self.fs_path)
        self.t_full = time.monotonic()
        self.mark("full")
        self.event("filesystem full", filler_bytes=size, free_bytes=st.f_bavail * st.f_frsize)
        self.phase = "disk full"
        full = self.watch_fault("disk full", self.t_full + self.outage)
        self.mark("freed")
        os.unlink(self.filler)
        self.t_freed = time.monotonic()
        self.event("filler deleted")
        st, healthy = self.recover()
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=30)
        try:
            rows = db.execute("SELECT count(*) FROM agents WHERE deleted_at IS NULL").fetchone()[0]
            good = db.execute("SELECT count(*) FROM agents WHERE deleted_at IS NULL AND instr(remote_config_status, ?) > 0",
                              (applied_blob(self.config_hash),)).fetchone()[0]
        finally:
            db.close()
        replies_full = self.replies_at["freed"] - self.replies_at["full"]
        health_seen, flush_failures, readyz = self.fault_figures(full)
        self.figures.update(
            filler_bytes=size, push_s=round(self.t_push_done - self.t_post, 3),
            full_s=round(self.t_freed - self.t_full, 3),
            writes_recovered_s_after_freed=round(self.t_healthy - self.t_freed, 3),
            replies_while_full=replies_full,
            reconnects_while_full=self.reconnects_at["freed"] - self.reconnects_at["full"],
            db_agent_rows=rows, db_rows_applied_with_hash=good, final_assignment=st,
            healthy_seen_while_full=health_seen, flush_failures_while_full=flush_failures, readyz_while_full=readyz)
        if 0 not in self.figures["healthy_seen_while_full"]:
            self.reasons.append("diskfull: ampora_persistence_healthy never went 0 while the disk was full "
                                "(did any write hit ENOSPC?)")
        if not self.figures["flush_failures_while_full"]:
            self.reasons.append("diskfull: no flush failure counted while the disk was full")
        if replies_full <= 0:
            self.reasons.append("diskfull: no heartbeat answered while the disk was full")
        if rows != self.agents or good != self.agents:
            self.reasons.append("diskfull: the SQLite file has %d agent rows, %d with the APPLIED hash; expected %d"
                                % (rows, good, self.agents))

    def finish(self, result):
        if self.server.proc is None or self.server.proc.poll() is not None:
            self.reasons.append("diskfull: the server exited (status %s)" % (self.server.proc and self.server.proc.returncode))
        log = self.server.log_text()
        lines = [l for l in log.splitlines() if "database" in l or "disk" in l]
        self.figures["server_log_persistence_lines"] = lines[:10]
        if not any("write failed" in l for l in lines) and self.phase != "ramp":
            self.reasons.append("diskfull: no log line says a database write failed")
        self.figures["agent_reconnects"] = result.get("reconnects")
        super().finish(result)


class SoakController(_Base):
    """A long run at a small scale: N agents heartbeating, `churn_pct` % of them dropped and
    reconnected per minute (whole load-generator workers get SIGUSR1, so churn comes in blocks
    of --per-worker agents that keep their identities), a new config assigned to every agent
    every `push_every` minutes; the server's RSS and the heartbeat reply p99 of each 1 s
    interval are kept every `sample_every` s (result `soak_series`, plotted by svgplot)."""

    def __init__(self, server, agents, api, churn_pct, push_every_min, sample_every, config_bytes, timeout,
                 duration=None):
        super().__init__(server, agents)
        self.duration = duration
        self.t_first = None
        self.api = api
        self.churn_pct = churn_pct
        self.push_every = push_every_min * 60.0
        self.sample_every = sample_every
        self.config_bytes = config_bytes
        self.timeout = timeout
        self.series = []
        self.pushes = []
        self.churned = 0
        self.next_churn = self.next_push = self.next_keep = None
        self.victim = 0
        self.pushing = False
        self.phase = "ramp"

    def _push(self, n):
        entry = {"n": n, "t": round(time.monotonic() - self.t_all, 1)}
        try:
            name = "ampora-bench-soak-%d-%d" % (int(time.time()), n)
            put = self.api.put_config(name, push_config_yaml(self.config_bytes) + "# soak push %d\n" % n)
            t = time.monotonic()
            a = self.api.assign(name, {})
            deadline = t + self.timeout
            while time.monotonic() < deadline:
                st = self.api.assignment(a["id"])
                if st["targets"] >= self.agents and st["applied"] >= st["targets"]:
                    entry.update(hash=put["hash"], applied_s=round(time.monotonic() - t, 3))
                    break
                time.sleep(0.25)
            else:
                entry.update(hash=put["hash"], error="not all APPLIED within %.0f s" % self.timeout, last=st)
        except BenchError as e:
            entry["error"] = str(e)
        self.pushes.append(entry)
        self.pushing = False

    def on_sample(self, now, sample, workers):
        super().on_sample(now, sample, workers)
        if self.t_first is None:
            self.t_first = now - 1.0       # the first sample comes a second after the launch
        if self.t_all is None:
            return
        if self.phase == "ramp":
            self.phase = "soaking"
            per_min = self.agents * self.churn_pct / 100.0
            per_worker = max(1, self.agents // max(len(workers), 1))
            # one worker's agents at a time, spaced so that churn_pct % drop per minute
            self.churn_interval = 60.0 * per_worker / per_min if per_min > 0 else None
            self.next_churn = now + (self.churn_interval or 0)
            # Halfway between two churns: a push that fell on one would wait for the dropped
            # worker's paced reconnects, and time those rather than the push.
            self.next_push = now + max(self.push_every - (self.churn_interval or 0) / 2, 0.0)
            self.next_keep = now
        if self.churn_interval and now >= self.next_churn:
            self.next_churn += self.churn_interval
            w = workers[self.victim % len(workers)]
            self.victim += 1
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGUSR1)
                self.churned += w.last.get("agents", 0) if w.last else 0
        # No push in the last 10 s: the workers and then the server stop at --duration, and a push
        # cut short by that says nothing about the server.
        ends = self.t_first + self.duration if self.duration else None
        if now >= self.next_push and not self.pushing and (ends is None or now + 10 < ends):
            self.next_push += self.push_every
            self.pushing = True
            threading.Thread(target=self._push, args=(len(self.pushes) + 1,), daemon=True).start()
        if now >= self.next_keep:
            self.next_keep += self.sample_every
            p99s = [w.last.get("p99_us") for w in workers if w.last and w.last.get("samples")]
            self.series.append({"t": round(now - self.t_all, 1), "rss_kb": sample.get("rss_kb"),
                                "connected": sample["connected"], "p99_us_max_worker": max(p99s) if p99s else None,
                                **self._store_memory()})

    def _store_memory(self):
        """The server's SQLite heap and write backlog (/metrics): how much of RSS is the database's
        page cache, which grows with the database, and how much is rows waiting to be written."""
        try:
            m = scrape_metrics(self.api, "ampora_persistence_")
        except (OSError, ValueError):
            return {}
        out = {}
        if "ampora_persistence_sqlite_heap_bytes" in m:
            out["sqlite_heap_kb"] = int(m["ampora_persistence_sqlite_heap_bytes"] // 1024)
        if "ampora_persistence_backlog_rows" in m:
            out["backlog_rows"] = int(m["ampora_persistence_backlog_rows"])
        return out

    def status(self):
        return "| soak: churned %d, pushes %d" % (self.churned, len(self.pushes))

    def finish(self, result):
        rss = [x["rss_kb"] for x in self.series if x.get("rss_kb")]
        p99 = [x["p99_us_max_worker"] for x in self.series if x.get("p99_us_max_worker")]
        bad = [p for p in self.pushes if "error" in p]
        self.figures.update(
            churn_pct_per_min=self.churn_pct, push_every_s=self.push_every,
            churned_agents=self.churned, reconnects=result.get("reconnects"), pushes=self.pushes,
            rss_first_kb=rss[0] if rss else None, rss_last_kb=rss[-1] if rss else None,
            rss_max_kb=max(rss) if rss else None, p99_us_max=max(p99) if p99 else None,
            p99_us_median=sorted(p99)[len(p99) // 2] if p99 else None, agent_errors=result.get("errors"))
        heap = [x["sqlite_heap_kb"] for x in self.series if x.get("sqlite_heap_kb") is not None]
        if heap:
            self.figures.update(sqlite_heap_first_kb=heap[0], sqlite_heap_last_kb=heap[-1],
                                sqlite_heap_max_kb=max(heap))
        if bad:
            self.error = BenchError("soak: %d of %d pushes did not complete: %s" % (len(bad), len(self.pushes), bad[0]))
        result["soak_series"] = self.series
        super().finish(result)
