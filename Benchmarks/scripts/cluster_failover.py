#!/usr/bin/env python3
"""Several `ampora serve` instances on one PostgreSQL behind HAProxy, a load of WebSocket agents
through it, then `kill -9` of one instance: how long until every agent is connected again (to
the others), and whether the database agrees (nothing left owned by the dead instance).
Then the fleet's state as a survivor's API and the database show it: every agent listed once,
held by one instance; with --push, how many want the pushed config and report it APPLIED; and
the dead instance's agents' history, every row it wrote before the kill still there.

    Benchmarks/scripts/cluster_failover.py --database postgres://postgres@127.0.0.1:54329/postgres \\
        --agents 30000 --instances 3 --out result.json

The database must be empty or an Ampora database; each run uses a fresh database of its own
on that server (CREATE DATABASE). HAProxy runs as several processes sharing the listening port
(SO_REUSEPORT): one process may open 20 000 descriptors here, two per agent. Loopback only.
Exit status 0 when every agent came back within --deadline seconds and the database agrees.
"""
import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "loadgen"))

import run_load  # noqa: E402

TOKEN = "amp_bench_cluster_token_0123456789abcdef"
AGENTS_PER_HAPROXY = 9000


def psql(url, sql):
    # On stdin: a query naming 10 000 uids is longer than one argument may be.
    out = subprocess.run(["psql", url, "-tA", "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise SystemExit("cluster_failover: psql: " + out.stderr.strip())
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    def __init__(self, binary, database, name, workdir, lease):
        token = os.path.join(workdir, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        self.name = name
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--database", database, "--instance-id", name, "--opamp-listen", "127.0.0.1:0",
             "--http-listen", "127.0.0.1:0", "--loops", "1", "--leader-lease", lease, "--admin-token-file", token,
             "--registration-rate", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ampora ready "):
            raise SystemExit(f"cluster_failover: instance {name} did not start: {line!r}")
        fields = dict(kv.split("=", 1) for kv in line.split()[2:])
        self.opamp_port = int(fields["opamp"].rsplit(":", 1)[1])
        self.http_port = int(fields["http"].rsplit(":", 1)[1])

    def agents(self):
        """Every agent this instance lists (pages of 1 000)."""
        items, cursor = [], None
        while True:
            page = self.api("/api/v1/agents?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            items += page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                return items

    def api(self, path, method="GET", body=None, content_type="application/json"):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class HAProxy:
    """`count` processes on one port, each balancing over every instance, checked every 300 ms.
    Each process connects to the instances from a source address of its own: one source may
    hold only ~28 000 connections to one instance port (the ephemeral port range)."""

    def __init__(self, instances, count, workdir):
        self.port = free_port()
        backends = "\n".join(f"    server {i.name} 127.0.0.1:{i.opamp_port} check inter 300ms fall 1 rise 2"
                             for i in instances)
        self.procs = []
        for n in range(count):
            path = os.path.join(workdir, f"haproxy-{n}.cfg")
            with open(path, "w") as f:
                f.write(f"""global
    maxconn {AGENTS_PER_HAPROXY + 500}
defaults
    mode tcp
    timeout connect 2s
    timeout client 300s
    timeout server 300s
frontend agents
    bind 127.0.0.1:{self.port}
    default_backend ampora
backend ampora
    balance roundrobin
    source 127.0.1.{n + 1}
{backends}
""")
            self.procs.append(subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                    raise SystemExit("cluster_failover: haproxy did not start")
                time.sleep(0.1)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


CONFIG = (b"receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\nservice:\n"
          b"  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n")


class Failover(run_load.Controller):
    """With `push`, first assigns a config to every agent through one survivor and times until
    every agent applied it. Then kills the victim `settle` seconds after every agent is
    connected; ends once every agent is connected again and the database shows none held by
    the victim."""

    def __init__(self, agents, victim, survivors, database, settle, push=False):
        super().__init__(None)
        self.push = push
        self.t_post = self.t_applied = self.t_server_applied = None
        self.assignment = None
        self.pushed_hash = None
        self.victim_uids = []
        self.history_before = None
        self.rc_received_at_kill = 0
        self.state = {}
        self.agents, self.victim, self.survivors, self.database = agents, victim, survivors, database
        self.settle = settle
        self.phase = "ramp"
        self.t_all = self.t_kill = self.t_back = self.t_agreed = None
        self.victim_agents = None
        self.reconnects_at_kill = 0
        self.checking = False

    def on_sample(self, now, sample, workers):
        connected = sample["connected"]
        reconnects = run_load.totals(workers, "reconnects")
        if self.t_kill:
            # Configs the agents were sent again after the kill (their state should make that needless).
            self.rc_received_after_kill = run_load.totals(workers, "rc_received") - self.rc_received_at_kill
        if self.phase == "ramp" and connected >= self.agents and self.push:
            self.t_all = self.t_all or now
            if now >= self.t_all + self.settle:
                self.phase = "pushing"
                self.applied_before = sample.get("rc_agents_applied", 0)
                threading.Thread(target=self._assign, daemon=True).start()
        elif self.phase == "pushing":
            if self.t_post and sample.get("rc_agents_applied", 0) - self.applied_before >= self.agents:
                self.t_applied = self.t_applied or now
                # The agents' count runs ahead of the servers, which record each status as they
                # read it; the settle (and the history snapshot before the kill) starts once a
                # survivor reports every agent applied. It learns the victim's agents' states
                # from the rows the victim wrote, so those rows are in the database by then.
                if self.assignment and self._server_applied() >= self.agents:
                    self.t_server_applied = now
                    self.t_all = now
                    self.phase = "settling"
        elif self.phase in ("ramp", "settling") and connected >= self.agents:
            self.t_all = self.t_all or now
            if now >= self.t_all + self.settle:
                held = psql(self.database,
                            f"SELECT uid FROM agents WHERE connected = 1 AND owner = '{self.victim.name}'")
                self.victim_uids = held.split()
                self.victim_agents = len(self.victim_uids)
                # What the database holds of the victim's agents' history now: all of it must
                # still be there after the kill (the rows up to this id).
                rows, last = psql(self.database, f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM agent_history "
                                                 f"WHERE uid IN ({self._victims_sql()})").split("|")
                self.history_before = {"rows": int(rows), "max_id": int(last)}
                self.reconnects_at_kill = reconnects
                self.rc_received_at_kill = run_load.totals(workers, "rc_received")
                self.victim.kill()
                self.t_kill = time.monotonic()
                self.phase = "reconnecting"
        elif self.phase == "reconnecting":
            if connected >= self.agents and reconnects - self.reconnects_at_kill >= (self.victim_agents or 0):
                self.t_back = now
                self.phase = "checking"
                threading.Thread(target=self._check, daemon=True).start()

    def _assign(self):
        via = self.survivors[0]
        self.pushed_hash = via.api("/api/v1/configs/everyone", "PUT", CONFIG, "text/yaml")["hash"]
        self.t_post = time.monotonic()
        self.assignment = via.api("/api/v1/assignments", "POST", {"config": "everyone", "selector": {}})["id"]

    def _server_applied(self):
        """How many agents a survivor counts as having applied the pushed config (0 if it cannot
        be asked right now)."""
        try:
            return self.survivors[0].api(f"/api/v1/assignments/{self.assignment}")["applied"]
        except (OSError, ValueError, KeyError):
            return 0

    def _check(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = psql(self.database, "SELECT owner, COUNT(*) FROM agents WHERE connected = 1 GROUP BY owner")
            owners = dict(line.split("|") for line in rows.splitlines() if line)
            total = sum(int(n) for n in owners.values())
            if self.victim.name not in owners and total == self.agents:
                self.owners_after = {k: int(v) for k, v in owners.items()}
                self.t_agreed = time.monotonic()
                try:
                    self._check_state()
                except Exception as e:  # noqa: BLE001 - recorded: the run must still end and report
                    self.state["error"] = repr(e)
                self.phase = "agreed"
                return
            time.sleep(0.5)
        self.phase = "disagreed"

    def _victims_sql(self):
        return ",".join(f"'{u}'" for u in self.victim_uids) or "NULL"

    def _state_once(self):
        """The fleet as the survivors list it and the database holds it."""
        views = {s.name: s.agents() for s in self.survivors}
        first = self.survivors[0].name
        items = views[first]
        uids = [i["instanceUid"] for i in items]
        where = {name: {i["instanceUid"]: i["instance"] for i in v} for name, v in views.items()}
        held = {i["id"]: i["agents"] for i in self.survivors[0].api("/api/v1/instances")["items"] if i["alive"]}
        rows, distinct = psql(self.database, "SELECT COUNT(*), COUNT(DISTINCT uid) FROM agents").split("|")
        state = {
            "listed": {name: len(v) for name, v in views.items()},
            "listed_connected": {name: sum(1 for i in v if i["connected"]) for name, v in views.items()},
            # A uid listed twice by one survivor, or held by different instances in two views.
            "uids_listed_twice": max(len(v) - len({i["instanceUid"] for i in v}) for v in views.values()),
            "survivors_disagree_on_holder": sum(1 for u in uids if len({w.get(u) for w in where.values()}) != 1),
            "held_by_victim": sum(1 for i in items if i["instance"] == self.victim.name),
            # Agents each live instance's connections held at its last heartbeat: more than the
            # agents in all means some agent is held by two.
            "held_by_instances": held,
            "database_rows": int(rows), "database_uids": int(distinct),
        }
        if self.pushed_hash:
            desired = [i for i in items if i["desiredConfigHash"] == self.pushed_hash]
            state["pushed_hash"] = self.pushed_hash
            state["desired_pushed"] = len(desired)
            state["applied_pushed"] = sum(1 for i in desired if i["remoteConfigStatus"]["status"] == "APPLIED"
                                          and i["remoteConfigStatus"]["hash"] == self.pushed_hash)
            states = {}
            for i in items:
                states[i["configState"]] = states.get(i["configState"], 0) + 1
            state["config_states"] = states
        return state

    def _check_state(self):
        """Waits (up to 60 s) for the survivors' view to settle, then records it and the history."""
        deadline = time.monotonic() + 60
        while True:
            state = self._state_once()
            settled = (all(n == self.agents for n in state["listed_connected"].values())
                       and sum(state["held_by_instances"].values()) == self.agents
                       and state["survivors_disagree_on_holder"] == 0
                       and (not self.pushed_hash or state["applied_pushed"] == self.agents))
            if settled or time.monotonic() > deadline:
                break
            time.sleep(1)
        state["state_settled_s_from_kill"] = round(time.monotonic() - self.t_kill, 3)
        victims = self._victims_sql()
        kept = psql(self.database, f"SELECT COUNT(*) FROM agent_history WHERE uid IN ({victims}) "
                                   f"AND id <= {self.history_before['max_id']}")
        reconnected = psql(self.database, f"SELECT COUNT(*) FROM (SELECT uid FROM agent_history "
                                          f"WHERE uid IN ({victims}) AND kind = 'connected' "
                                          "GROUP BY uid HAVING COUNT(*) >= 2) t")
        history = {"victim_rows_before_kill": self.history_before["rows"], "victim_rows_kept": int(kept),
                   "victim_agents_reconnected_in_history": int(reconnected)}
        if self.pushed_hash:
            history["victim_agents_applied_in_history"] = int(psql(
                self.database, f"SELECT COUNT(DISTINCT uid) FROM agent_history WHERE uid IN ({victims}) "
                               f"AND kind = 'remote_config_status_changed' AND detail = 'APPLIED {self.pushed_hash}'"))
        state["history"] = history
        self.state = state

    def status(self):
        return "| failover: %s" % self.phase

    def done(self):
        return self.phase in ("agreed", "disagreed")

    def finish(self, result):
        result["failover"] = {
            "phase": self.phase, "victim": self.victim.name, "victim_agents": self.victim_agents,
            "push_s": round(self.t_applied - self.t_post, 3) if self.t_applied and self.t_post else None,
            "push_server_s": (round(self.t_server_applied - self.t_post, 3)
                              if self.t_server_applied and self.t_post else None),
            "reconnect_s_from_kill": round(self.t_back - self.t_kill, 3) if self.t_back and self.t_kill else None,
            "database_agrees_s_from_kill": round(self.t_agreed - self.t_kill, 3) if self.t_agreed else None,
            "owners_after": getattr(self, "owners_after", None),
            "rc_received_after_kill": getattr(self, "rc_received_after_kill", None),
            "state_after": self.state,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True, help="postgres://… of a PostgreSQL server (a fresh database is made)")
    ap.add_argument("--agents", type=int, default=30000)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--rate", type=float, default=4000, help="new connections per second")
    ap.add_argument("--heartbeat", type=float, default=30)
    ap.add_argument("--settle", type=float, default=5, help="seconds between the full ramp and the kill")
    ap.add_argument("--deadline", type=float, default=30, help="seconds the agents have to come back")
    ap.add_argument("--lease", default="2s", help="--leader-lease of the instances")
    ap.add_argument("--push", action="store_true",
                    help="before the kill, assign a config to every agent through one instance and time until all "
                         "applied it")
    ap.add_argument("--ampora-bin", default=os.path.join(ROOT, ".build", "release", "ampora"))
    ap.add_argument("--out", help="JSON result file")
    ap.add_argument("--quiet", action="store_true")
    opts = ap.parse_args()
    if shutil.which("haproxy") is None:
        raise SystemExit("cluster_failover: haproxy is not installed (scripts/bootstrap.sh --test)")
    name = "ampora_failover_" + uuid.uuid4().hex[:12]
    psql(opts.database, f"CREATE DATABASE {name}")
    database = opts.database.rsplit("/", 1)[0] + "/" + name
    workdir = tempfile.mkdtemp(prefix="ampora-failover-")
    instances, proxy = [], None
    try:
        instances = [Instance(opts.ampora_bin, database, f"i{n}", workdir, opts.lease) for n in range(opts.instances)]
        proxy = HAProxy(instances, math.ceil(opts.agents / AGENTS_PER_HAPROXY), workdir)
        controller = Failover(opts.agents, instances[0], instances[1:], database, opts.settle, opts.push)
        args = run_load.build_parser().parse_args([
            "--target", f"127.0.0.1:{proxy.port}", "--agents", str(opts.agents), "--rate", str(opts.rate),
            "--heartbeat", str(opts.heartbeat), "--duration", str(2 * opts.agents / opts.rate + opts.settle + 180),
            "--out", os.path.join(workdir, "load.json"), "--sample-interval", "0.25"]
            + (["--quiet"] if opts.quiet else []))
        result, rc = run_load.run(args, controller)
        failover = result["failover"]
        failover.update(agents=opts.agents, instances=opts.instances, haproxy_processes=len(proxy.procs),
                        time_to_all_connected_s=result.get("time_to_all_connected_s"))
        ok = (failover["phase"] == "agreed" and failover["reconnect_s_from_kill"] is not None
              and failover["reconnect_s_from_kill"] <= opts.deadline)
        failover["ok"] = ok
        if opts.out:
            with open(opts.out, "w") as f:
                json.dump(failover, f, indent=2)
        print(json.dumps(failover))
        return 0 if ok else 1
    finally:
        if proxy:
            proxy.stop()
        for i in instances[1:]:
            i.stop()
        if instances and instances[0].proc.poll() is None:
            instances[0].stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
