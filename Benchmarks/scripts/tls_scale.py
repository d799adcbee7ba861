#!/usr/bin/env python3
"""TLS at scale, measured from outside with the C load generator (Benchmarks/loadgen).

    .venv/bin/python Benchmarks/scripts/tls_scale.py                 # full: 100 000 agents
    .venv/bin/python Benchmarks/scripts/tls_scale.py --quick         # smoke run, < 2 minutes

Throwaway ECDSA P-256 certificates are made with the openssl CLI in a temporary directory: a
server CA and a server certificate for localhost / 127.0.0.1, and a separate client CA with one
client certificate that every simulated agent shares. Then, each part bounded in time:

  (a) `ampora serve` with BOTH a plain agent listener and a mutual-TLS one (--opamp-tls-listen,
      --tls-client-ca, --tls-client-auth require). First N plain WebSocket agents against the
      plain listener, then (a fresh server of the same configuration) N mutual-TLS agents against
      the TLS listener; heartbeats every 10 s. Per mode: server RSS per idle agent (RSS growth /
      agents, KiB) and server CPU per heartbeat (steady state), and the ratio TLS / plain.
  (b) nginx terminating mutual TLS in front of a plain `ampora serve` (WebSocket proxied with the
      Upgrade headers, worker_rlimit_nofile 20000, loopback only): how many agents it holds
      before errors (each agent costs nginx two descriptors, so about 10 000 per worker), then at
      90 % of that the CPU per heartbeat summed over nginx and ampora, against ampora's own
      mutual TLS with the same number of agents in the same run.
  (c) Full and resumed handshakes per second (the load generator's --mode handshake, C slots
      cycling connect / TLS / close) against ampora's TLS listener and `openssl s_server`, with
      and without client certificates, each with the server's CPU per handshake; then a
      reconnect storm over TLS: N agents connected, all dropped at once, time until all are back
      (full handshakes, then resumed ones).

A compact table goes to stdout and a JSON result to Benchmarks/results/tls/ (or --out). Every
server runs under coreutils `timeout`, every load generator has its own --duration, and all
addresses are on 127.0.0.0/8. Python standard library only. Needs `make` in Benchmarks/loadgen
(done here), the openssl CLI and, for (b), nginx (Debian: apt-get install nginx).

Full runs, one part at a time (about 5, 3 and 9 minutes at 100 000 agents; the load generator
needs ~2.6 GB for 100 000 TLS agents, the server about as much):

    .venv/bin/python Benchmarks/scripts/tls_scale.py --parts a --out Benchmarks/results/tls/a-100k.json
    .venv/bin/python Benchmarks/scripts/tls_scale.py --parts b --out Benchmarks/results/tls/b-100k.json
    .venv/bin/python Benchmarks/scripts/tls_scale.py --parts c --out Benchmarks/results/tls/c-100k.json

Useful variations: --a-modes plain,tls,mtls (also server-certificate-only TLS), --nginx-workers 2
(about 20 000 agents), --nginx-client-auth none, --storm-tls mtls, --tls-rate N (TLS connects per
second during ramps, default 800), --steady S (default 60), --concurrency C (default 64).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
LOADGEN = os.path.join(BENCH, "loadgen")
sys.path.insert(0, LOADGEN)
import run_load  # noqa: E402  (the worker driver)

OPAMP_LOAD = os.path.join(LOADGEN, "opamp-load")
CLK_TCK = os.sysconf("SC_CLK_TCK")
HANDSHAKE_SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


class Fail(Exception):
    pass


def log(msg):
    sys.stderr.write("tls_scale: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Certificates

def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Fail("openssl %s failed: %s" % (" ".join(args[:2]), r.stderr[-500:]))


def make_certs(d):
    """ECDSA P-256 everywhere: server CA -> server cert (localhost, 127.0.0.1); client CA ->
    one client certificate (every agent presents the same one)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    for ca in ("ca", "client-ca"):
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "3",
                "-subj", "/CN=tls_scale %s" % ca, cwd=d)
    for name, ca, cn in (("server", "ca", "localhost"), ("client", "client-ca", "agent")):
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "3", "-extfile", name + ".ext", cwd=d)
    return {k: os.path.join(d, v) for k, v in (
        ("ca", "ca.pem"), ("server_cert", "server.pem"), ("server_key", "server.key"),
        ("client_ca", "client-ca.pem"), ("client_cert", "client.pem"), ("client_key", "client.key"))}


# ---------------------------------------------------------------------------------------------
# Processes: every server runs under `timeout`, so it stops even if this script is killed

def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Bounded:
    """A server command under `timeout --kill-after=10 BUDGET`; `pid` is the server itself."""

    started = []

    def __init__(self, name, cmd, budget, workdir, stdout=subprocess.DEVNULL):
        self.name = name
        self.log = os.path.join(workdir, "%s.log" % name)
        self.command = " ".join(cmd)
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(["timeout", "--kill-after=10", "%d" % int(budget), *cmd],
                                         stdout=stdout, stderr=err, stdin=subprocess.DEVNULL)
        Bounded.started.append(self)
        self.pid = None
        for _ in range(100):
            kids = children(self.proc.pid)
            if kids:
                self.pid = kids[0]
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.pid is None:
            raise Fail("%s did not start (%s); log: %s" % (name, self.command, self.tail()))

    def tail(self, n=1500):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def pids(self):
        """The server and its children (nginx workers)."""
        return [self.pid] + children(self.pid)

    def cpu(self):
        return sum(c for c in (cpu_s(p) for p in self.pids()) if c is not None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)    # timeout passes it on to the server
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stop_all():
    for b in Bounded.started:
        try:
            b.stop()
        except Exception:  # noqa: BLE001  (best effort at exit)
            pass


class Ampora(Bounded):
    """`ampora serve` on free loopback ports; tls: None, "tls" or "mtls" (a second listener)."""

    def __init__(self, opts, certs, workdir, tls=None, loops=None, budget=600, tag="ampora"):
        self.db = os.path.join(workdir, "%s-%d.db" % (tag, len(Bounded.started)))
        cmd = (["taskset", "-c", "0"] if opts.pin else []) + [
               opts.ampora_bin, "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
               "--database", "sqlite:" + self.db, "--idle-timeout", "600", "--registration-rate", "0"]
        if loops:
            cmd += ["--loops", str(loops)]
        if tls:
            cmd += ["--tls-cert", certs["server_cert"], "--tls-key", certs["server_key"],
                    "--opamp-tls-listen", "127.0.0.1:0"]
        if tls == "mtls":
            cmd += ["--tls-client-ca", certs["client_ca"], "--tls-client-auth", "require"]
        super().__init__("%s-%d" % (tag, len(Bounded.started)), cmd, budget, workdir, stdout=subprocess.PIPE)
        self.ready = self._ready_line()
        fields = dict(f.split("=", 1) for f in self.ready.split()[2:] if "=" in f)
        self.opamp, self.tls = fields.get("opamp"), fields.get("tls")
        if tls and not self.tls:
            raise Fail("ampora's ready line names no tls= listener: %s" % self.ready)

    def _ready_line(self, timeout=60):
        box = []

        def reader():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").strip()
                if not box and line.startswith("ampora ready"):
                    box.append(line)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not box and self.proc.poll() is None:
            time.sleep(0.05)
        if not box:
            self.stop()
            raise Fail("ampora printed no ready line; its log:\n%s" % self.tail())
        return box[0]


class SServer(Bounded):
    """`openssl s_server -www`: the C floor for handshakes (one thread, one connection at a time)."""

    def __init__(self, certs, workdir, mtls, budget):
        self.port = free_port()
        cmd = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % self.port, "-cert", certs["server_cert"],
               "-key", certs["server_key"], "-www", "-quiet", "-naccept", "100000000", "-alpn", "http/1.1"]
        if mtls:
            cmd += ["-Verify", "1", "-CAfile", certs["client_ca"]]
        super().__init__("s_server-%s" % ("mtls" if mtls else "tls"), cmd, budget, workdir)
        if not wait_port(self.port, self.proc):
            raise Fail("openssl s_server did not listen: %s" % self.tail())
        self.target = "127.0.0.1:%d" % self.port


NGINX_CONF = """\
{user}worker_processes {workers};
worker_rlimit_nofile 20000;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{
    worker_connections {worker_connections};
}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    upstream ampora {{
        server {upstream};
    }}
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096{reuseport};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
{client_auth}
        location / {{
            proxy_pass http://ampora;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_connect_timeout 10s;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


class Nginx(Bounded):
    def __init__(self, opts, certs, workdir, upstream, budget):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        client_auth = ""
        if opts.nginx_client_auth == "require":
            client_auth = "        ssl_client_certificate %s;\n        ssl_verify_client on;" % certs["client_ca"]
        conf = NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "", workers=opts.nginx_workers,
            worker_connections=opts.nginx_worker_connections, dir=self.dir, upstream=upstream,
            port=self.port, reuseport=" reuseport" if opts.nginx_workers > 1 else "",
            cert=certs["server_cert"], key=certs["server_key"], client_auth=client_auth)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        base = [opts.nginx_bin, "-p", self.dir, "-e", os.path.join(self.dir, "nginx-error.log"), "-c", self.conf]
        r = subprocess.run(base + ["-t"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Fail("nginx -t failed:\n%s" % r.stderr[-1500:])
        super().__init__("nginx", base, budget, workdir)
        if not wait_port(self.port, self.proc):
            raise Fail("nginx did not listen: %s" % self.tail())
        self.target = "127.0.0.1:%d" % self.port

    def error_log_counts(self):
        counts = {}
        try:
            with open(os.path.join(self.dir, "nginx-error.log"), errors="replace") as f:
                for line in f:
                    for key in ("worker_connections are not enough", "Too many open files",
                                "Cannot assign requested address", "upstream timed out",
                                "connect() failed", "SSL_do_handshake() failed"):
                        if key in line:
                            counts[key] = counts.get(key, 0) + 1
        except OSError:
            pass
        return counts


# ---------------------------------------------------------------------------------------------
# Load runs (run_load.py) with a controller that ends them once the steady window is long enough

class Steady(run_load.Controller):
    """Ends the run `steady_s` after every agent is connected; samples extra processes (their
    summed CPU) so the steady window can be charged to several servers; optionally triggers a
    reconnect storm (SIGUSR1 to the workers) `storm_after` s after all are connected, then ends
    `after_back_s` after all are back. With `plateau_s`, also ends once errors appeared and the
    connected count has not grown for that long (a proxy that hit its limit)."""

    def __init__(self, pid, agents, steady_s, extra=None, storm_after=None, plateau_s=None, after_back_s=3.0):
        super().__init__(pid)
        self.after_back_s = after_back_s
        self.agents, self.steady_s = agents, steady_s
        self.extra = extra or {}          # name -> callable returning CPU seconds
        self.storm_after, self.plateau_s = storm_after, plateau_s
        self.t_all = self.t_storm = self.t_back = None
        self.rows = []                    # (t, connected, replies, errors, {name: cpu})
        self.best = (0, None)             # (max connected, t)
        self.first_error = None           # (t, connected) when errors first appeared
        self._done = False
        self._t0 = time.monotonic()

    def on_sample(self, now, sample, workers):
        t = now - self._t0
        errors = run_load.totals(workers, "errors")
        connected = sample["connected"]
        self.rows.append((t, connected, sample["replies"], errors, {k: f() for k, f in self.extra.items()}))
        if connected > self.best[0]:
            self.best = (connected, t)
        if errors and self.first_error is None:
            self.first_error = (round(t, 1), connected)
        if self.t_all is None and connected >= self.agents:
            self.t_all = t
        if self.storm_after is not None:
            if self.t_storm is None and self.t_all is not None and t - self.t_all >= self.storm_after:
                self.t_storm = t
                for w in workers:
                    if w.proc.poll() is None:
                        w.proc.send_signal(signal.SIGUSR1)
            elif self.t_storm is not None and self.t_back is None and t > self.t_storm + 1.5 \
                    and connected >= self.agents and self.all_back(workers):
                self.t_back = t
            if self.t_back is not None and t - self.t_back >= self.after_back_s:
                self._done = True
        elif self.t_all is not None and t - self.t_all >= self.steady_s + 1:
            self._done = True
        if self.plateau_s and self.first_error and self.best[1] is not None and t - self.best[1] >= self.plateau_s:
            self._done = True

    @staticmethod
    def all_back(workers):
        """Every worker has said, in a line written after the storm, that all its agents are back.
        The connected count alone is not enough: a worker busy with full handshakes may print no
        line for seconds, and its last one, from before the storm, still counts every agent."""
        return all(w.last and w.last.get("storm_at_s", -1) >= 0 and w.last.get("storm_all_back_s", -1) >= 0
                   for w in workers)

    def status(self):
        return "| storm sent" if self.t_storm is not None and self.t_back is None else ""

    def done(self):
        return self._done

    def window(self, start_connected=None):
        """(seconds, replies, {name: cpu}) between the first sample with `start_connected`
        (default: all) agents connected and the last sample (the workers were stopped right
        after it)."""
        need = self.agents if start_connected is None else start_connected
        rows = [r for r in self.rows if r[1] >= need]
        if len(rows) < 2:
            return None
        a, b = rows[0], rows[-1]
        return b[0] - a[0], b[2] - a[2], {k: b[4][k] - a[4][k] for k in b[4]}


def load_args(opts, target, pid, agents, duration, rate, out, tls=None, certs=None, resume=False,
              storm_rate=None):
    argv = ["--target", target, "--agents", str(agents), "--heartbeat", str(opts.heartbeat),
            "--duration", str(int(duration)), "--rate", str(rate), "--out", out,
            "--settle", "0.5" if opts.quick else "2", "--max-inflight", str(opts.max_inflight), "--quiet"]
    if pid:
        argv += ["--server-pid", str(pid)]
    if tls:
        argv += ["--tls", "--tls-ca", certs["ca"]]
        if tls == "mtls":
            argv += ["--tls-cert", certs["client_cert"], "--tls-key", certs["client_key"]]
        if resume:
            argv.append("--tls-resume")
    if storm_rate:
        argv += ["--storm-rate", str(storm_rate)]
    return run_load.build_parser().parse_args(argv)


def load_budget(opts, agents, rate):
    """Workers' --duration: a generous bound; the controller normally ends the run earlier."""
    return agents / rate * 3 + opts.steady * 2 + 30


def run_measured(opts, label, target, srv, agents, rate, out_dir, tls=None, certs=None, extra=None,
                 plateau_s=None, storm_after=None, resume=False, storm_rate=None):
    duration = load_budget(opts, agents, rate) + (opts.steady + 60 + agents / max(storm_rate or rate, 1) * 3
                                                   if storm_after is not None else 0)
    out = os.path.join(out_dir, "%s.json" % label)
    ctl = Steady(srv.pid, agents, opts.steady, extra=extra, storm_after=storm_after, plateau_s=plateau_s,
                 after_back_s=1.0 if opts.quick else 3.0)
    args = load_args(opts, target, srv.pid, agents, duration, rate, out, tls, certs, resume, storm_rate)
    log("%s: %d agents -> %s (rate %s/s, run bounded at %.0f s)" % (label, agents, target, rate, duration))
    t = time.monotonic()
    result, rc = run_load.run(args, ctl)
    log("%s: done in %.0f s (exit %d)" % (label, time.monotonic() - t, rc))
    return result, ctl


def per_agent_kib(result):
    b = result.get("server", {}).get("rss_growth_per_agent_bytes")
    return None if b is None else round(b / 1024, 2)


def us_per_heartbeat(result):
    c = result.get("server", {}).get("cpu_s_per_1000_msgs")
    return None if c is None else round(c * 1000, 2)


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def brief(result):
    return {k: result.get(k) for k in ("agents_target", "agents_connected", "time_to_all_connected_s",
                                       "heartbeats_per_s", "steady_window_s", "errors", "violations",
                                       "loadgen_cpu_s")}


# ---------------------------------------------------------------------------------------------
# (a) plain vs mutual TLS, same server configuration

def part_a(opts, certs, work):
    out = {"server": "ampora serve with a plain listener and a mutual-TLS listener (--opamp-tls-listen, "
                     "--tls-client-ca, --tls-client-auth require); a fresh server per mode", "modes": {}}
    for mode in opts.a_modes:
        rate = opts.plain_rate if mode == "plain" else opts.tls_rate
        srv = Ampora(opts, certs, work, tls="mtls" if mode != "tls" else "tls",
                     budget=load_budget(opts, opts.agents, rate) + 120, tag="a-" + mode)
        try:
            target = srv.opamp if mode == "plain" else srv.tls
            result, ctl = run_measured(opts, "a-%s" % mode, target, srv, opts.agents, rate, work,
                                       tls=None if mode == "plain" else mode, certs=certs)
        finally:
            srv.stop()
        out["modes"][mode] = {
            "listener": target, "rate_per_s": rate, "command": srv.command,
            "rss_per_agent_kib": per_agent_kib(result), "cpu_us_per_heartbeat": us_per_heartbeat(result),
            "server": result.get("server"), "tls": result.get("tls"), "latency_steady_us": result.get("latency_steady_us"),
            **brief(result)}
    plain = out["modes"].get("plain", {})
    for mode in ("tls", "mtls"):
        m = out["modes"].get(mode)
        if m and plain:
            out["%s_over_plain" % mode] = {
                "rss_per_agent": ratio(m["rss_per_agent_kib"], plain["rss_per_agent_kib"]),
                "cpu_per_heartbeat": ratio(m["cpu_us_per_heartbeat"], plain["cpu_us_per_heartbeat"])}
    return out


# ---------------------------------------------------------------------------------------------
# (b) nginx terminating TLS in front of plain ampora

def part_b(opts, certs, work):
    out = {"nginx": {"workers": opts.nginx_workers, "worker_connections": opts.nginx_worker_connections,
                     "worker_rlimit_nofile": 20000, "client_auth": opts.nginx_client_auth}}
    tls_mode = "mtls" if opts.nginx_client_auth == "require" else "tls"
    budget = load_budget(opts, opts.agents, opts.tls_rate) + 120

    # 1. capacity: offer every agent, stop once errors appeared and the count stopped growing
    srv = Ampora(opts, certs, work, budget=budget, tag="b-upstream")
    ngx = None
    try:
        ngx = Nginx(opts, certs, work, srv.opamp, budget)
        out["nginx"]["command"] = ngx.command
        result, ctl = run_measured(opts, "b-nginx-capacity", ngx.target, srv, opts.agents, opts.tls_rate, work,
                                   tls=tls_mode, certs=certs, plateau_s=opts.plateau,
                                   extra={"nginx": ngx.cpu})
        out["capacity"] = {
            "agents_offered": opts.agents, "agents_held_max": ctl.best[0],
            "connected_when_errors_began": ctl.first_error[1] if ctl.first_error else None,
            "errors_began_at_s": ctl.first_error[0] if ctl.first_error else None,
            "errors": result.get("errors"), "connect_errors": result.get("connect_errors"),
            "connect_timeouts": result.get("connect_timeouts"), "rejected": result.get("rejected"),
            "tls_error_reasons": (result.get("tls") or {}).get("error_reasons"),
            "nginx_error_log": ngx.error_log_counts(),
            "per_nginx_worker": round(ctl.best[0] / opts.nginx_workers),
        }
    finally:
        if ngx:
            ngx.stop()
        srv.stop()

    # 2. CPU per heartbeat at a load nginx holds, nginx + ampora, against ampora's own TLS
    held = out["capacity"]["agents_held_max"]
    m = min(opts.agents, int(held * 0.9)) if out["capacity"]["errors"] else opts.agents
    if m < 100:
        out["cpu"] = {"skipped": "nginx held %d agents" % held}
        return out
    out["cpu_agents"] = m
    srv = Ampora(opts, certs, work, budget=load_budget(opts, m, opts.tls_rate) + 120, tag="b-upstream")
    ngx = None
    try:
        ngx = Nginx(opts, certs, work, srv.opamp, load_budget(opts, m, opts.tls_rate) + 120)
        result, ctl = run_measured(opts, "b-nginx-cpu", ngx.target, srv, m, opts.tls_rate, work, tls=tls_mode,
                                   certs=certs, extra={"nginx": ngx.cpu, "ampora": lambda: cpu_s(srv.pid) or 0.0})
        win = ctl.window()
        nginx_row = {**brief(result), "tls": result.get("tls"), "nginx_error_log": ngx.error_log_counts()}
        if win and win[1]:
            secs, replies, cpu = win
            nginx_row.update({
                "window_s": round(secs, 1), "heartbeats": replies,
                "cpu_s_nginx": round(cpu["nginx"], 2), "cpu_s_ampora": round(cpu["ampora"], 2),
                "cpu_us_per_heartbeat_nginx": round(cpu["nginx"] / replies * 1e6, 2),
                "cpu_us_per_heartbeat_ampora": round(cpu["ampora"] / replies * 1e6, 2),
                "cpu_us_per_heartbeat": round((cpu["nginx"] + cpu["ampora"]) / replies * 1e6, 2)})
        nginx_rss = sum(r for r in (rss_kb(p) for p in ngx.pids()) if r)
        nginx_row["nginx_rss_kb_at_end"] = nginx_rss
        out["nginx_plus_plain_ampora"] = nginx_row
    finally:
        if ngx:
            ngx.stop()
        srv.stop()

    srv = Ampora(opts, certs, work, tls=tls_mode, budget=load_budget(opts, m, opts.tls_rate) + 120, tag="b-own")
    try:
        result, ctl = run_measured(opts, "b-ampora-own-tls", srv.tls, srv, m, opts.tls_rate, work, tls=tls_mode,
                                   certs=certs, extra={"ampora": lambda: cpu_s(srv.pid) or 0.0})
        win = ctl.window()
        own = {**brief(result), "tls": result.get("tls"), "rss_per_agent_kib": per_agent_kib(result),
               "cpu_us_per_heartbeat_run_load": us_per_heartbeat(result)}
        if win and win[1]:
            own.update({"window_s": round(win[0], 1), "heartbeats": win[1],
                        "cpu_us_per_heartbeat": round(win[2]["ampora"] / win[1] * 1e6, 2)})
        out["ampora_own_tls"] = own
    finally:
        srv.stop()
    out["nginx_over_own_cpu_per_heartbeat"] = ratio(out["nginx_plus_plain_ampora"].get("cpu_us_per_heartbeat"),
                                                    out["ampora_own_tls"].get("cpu_us_per_heartbeat"))
    return out


# ---------------------------------------------------------------------------------------------
# (c) handshakes per second, and a reconnect storm

def handshake_run(opts, target, certs, mtls, resume, label, server_cpu):
    cmd = [OPAMP_LOAD, "--mode", "handshake", "--target", target, "--concurrency", str(opts.concurrency),
           "--duration", str(opts.hs_duration), "--stats-interval", str(max(opts.hs_duration, 1)),
           "--tls", "--tls-ca", certs["ca"]]
    for s in HANDSHAKE_SOURCES:
        cmd += ["--source", s]
    if mtls:
        cmd += ["--tls-cert", certs["client_cert"], "--tls-key", certs["client_key"]]
    if resume:
        cmd.append("--tls-resume")
    c0 = server_cpu()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.hs_duration + 60)
    c1 = server_cpu()
    finals = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{") and '"final"' in l]
    if not finals:
        raise Fail("%s: no result from opamp-load (exit %d): %s" % (label, r.returncode, r.stderr[-800:]))
    f = finals[-1]
    n = f["handshakes"]
    row = {"handshakes": n, "per_s": f["handshakes_per_s"], "full": f["tls_full"], "resumed": f["tls_resumed"],
           "full_per_s": f.get("tls_full_per_s"), "resumed_per_s": f.get("tls_resumed_per_s"),
           "errors": f["errors"], "tls_errors": f["tls_errors"], "error_reasons": f.get("tls_error_reasons"),
           "resumptions_declined": f.get("tls_resume_declined"), "latency_p50_us": f["p50_us"],
           "latency_p99_us": f["p99_us"], "client_cpu_s": f.get("cpu_s"), "seconds": f["t"],
           "server_cpu_s": round(c1 - c0, 2) if c0 is not None and c1 is not None else None}
    if n and row["server_cpu_s"] is not None:
        row["server_cpu_us_per_handshake"] = round(row["server_cpu_s"] / n * 1e6, 1)
    if n and row["client_cpu_s"]:
        row["client_cpu_us_per_handshake"] = round(row["client_cpu_s"] / n * 1e6, 1)
    log("%s: %d handshakes (%.0f/s; full %d, resumed %d), errors %d, server CPU %s s"
        % (label, n, f["handshakes_per_s"], f["tls_full"], f["tls_resumed"], f["errors"], row["server_cpu_s"]))
    return row


def part_c(opts, certs, work):
    out = {"handshakes": {}, "concurrency": opts.concurrency, "duration_s": opts.hs_duration,
           "ampora_loops": opts.hs_loops, "client": "one opamp-load process (one thread), sources %s"
           % ",".join(HANDSHAKE_SOURCES),
           "note": "the client and the server share the 2 cores: compare server CPU per handshake; "
                   "TLS 1.3, X25519 key exchange, ECDSA P-256 certificates, close_notify then close "
                   "after each handshake (the wait for the server's close is where tickets arrive)"}
    hs_budget = (opts.hs_duration + 10) * 2 + 60
    for mtls in (False, True):
        kind = "mtls" if mtls else "tls"
        srv = Ampora(opts, certs, work, tls=kind, loops=opts.hs_loops, budget=hs_budget, tag="c-" + kind)
        try:
            for resume in (False, True):
                label = "ampora-%s-%s" % (kind, "resumed" if resume else "full")
                out["handshakes"][label] = handshake_run(opts, srv.tls, certs, mtls, resume, label,
                                                         lambda: cpu_s(srv.pid))
                out["handshakes"][label]["server_command"] = srv.command
        finally:
            srv.stop()
        ss = SServer(certs, work, mtls, hs_budget)
        try:
            for resume in (False, True):
                label = "s_server-%s-%s" % (kind, "resumed" if resume else "full")
                out["handshakes"][label] = handshake_run(opts, ss.target, certs, mtls, resume, label,
                                                         lambda: cpu_s(ss.pid))
                out["handshakes"][label]["server_command"] = ss.command
        finally:
            ss.stop()
    hs = out["handshakes"]
    out["ampora_over_s_server"] = {}
    for key in ("tls-full", "tls-resumed", "mtls-full", "mtls-resumed"):
        a, s = hs.get("ampora-" + key, {}), hs.get("s_server-" + key, {})
        out["ampora_over_s_server"][key] = {
            "per_s": ratio(a.get("per_s"), s.get("per_s")),
            "server_cpu_per_handshake": ratio(a.get("server_cpu_us_per_handshake"), s.get("server_cpu_us_per_handshake"))}

    out["storm"] = {}
    for resume in (False, True):
        label = "storm-%s" % ("resumed" if resume else "full")
        srv = Ampora(opts, certs, work, tls=opts.storm_tls,
                     budget=load_budget(opts, opts.agents, opts.tls_rate) + opts.agents / opts.storm_rate * 3 + 300,
                     tag="c-" + label)
        try:
            result, ctl = run_measured(opts, "c-" + label, srv.tls, srv, opts.agents, opts.tls_rate, work,
                                       tls=opts.storm_tls, certs=certs, resume=resume, storm_after=opts.storm_after,
                                       storm_rate=opts.storm_rate, extra={"ampora": lambda: cpu_s(srv.pid) or 0.0})
        finally:
            srv.stop()
        st = result.get("storm") or {}
        row = {"agents": opts.agents, "client_auth": opts.storm_tls == "mtls",
               "reconnect_rate_cap_per_s": opts.storm_rate, "max_inflight": opts.max_inflight,
               "time_to_all_back_s": st.get("time_to_all_back_s"), "dropped": st.get("dropped"),
               "tls_full": st.get("tls_full"), "tls_resumed": st.get("tls_resumed"), "errors": st.get("errors"),
               "resumptions_declined_whole_run": (result.get("tls") or {}).get("resumptions_declined"),
               "ramp_time_to_all_connected_s": result.get("time_to_all_connected_s"),
               "tls_error_reasons": (result.get("tls") or {}).get("error_reasons"),
               "violations": result.get("violations")}
        if ctl.t_storm is not None:
            before = [r for r in ctl.rows if r[0] <= ctl.t_storm]
            after = [r for r in ctl.rows if ctl.t_back is not None and r[0] >= ctl.t_back]
            if before and after:
                row["server_cpu_s_storm"] = round(after[0][4]["ampora"] - before[-1][4]["ampora"], 2)
        if row["time_to_all_back_s"]:
            row["reconnects_per_s"] = round(opts.agents / row["time_to_all_back_s"], 1)
        out["storm"][label] = row
    return out


# ---------------------------------------------------------------------------------------------
# Summary

def fmt(v, suffix=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%.2f" % v if abs(v) < 100 else "%.0f" % v) + suffix
    return "%s%s" % (v, suffix)


def summary(res):
    lines = []
    a = res.get("a")
    if a:
        lines.append("(a) %d agents, heartbeat %g s: RSS per idle agent, server CPU per heartbeat" % (
            res["agents"], res["heartbeat_s"]))
        lines.append("    %-6s %10s %12s %14s %8s %8s" % ("mode", "connected", "KiB/agent", "us/heartbeat",
                                                           "errors", "ramp s"))
        for mode, m in a["modes"].items():
            lines.append("    %-6s %10s %12s %14s %8s %8s" % (
                mode, fmt(m.get("agents_connected")), fmt(m.get("rss_per_agent_kib")),
                fmt(m.get("cpu_us_per_heartbeat")), fmt(m.get("errors")), fmt(m.get("time_to_all_connected_s"))))
        for mode in ("tls", "mtls"):
            r = a.get("%s_over_plain" % mode)
            if r:
                lines.append("    %s / plain: memory %sx, CPU per heartbeat %sx" % (
                    mode, fmt(r["rss_per_agent"]), fmt(r["cpu_per_heartbeat"])))
    b = res.get("b")
    if b:
        cap = b.get("capacity", {})
        lines.append("(b) nginx (%d worker(s), %s client certs) in front of plain ampora" % (
            b["nginx"]["workers"], "with" if b["nginx"]["client_auth"] == "require" else "no"))
        lines.append("    held at most %s of %s agents (errors began at %s connected); nginx log: %s" % (
            fmt(cap.get("agents_held_max")), fmt(cap.get("agents_offered")),
            fmt(cap.get("connected_when_errors_began")), cap.get("nginx_error_log")))
        n, o = b.get("nginx_plus_plain_ampora", {}), b.get("ampora_own_tls", {})
        if n or o:
            lines.append("    %s agents: CPU per heartbeat nginx+ampora %s us (nginx %s + ampora %s) vs "
                         "ampora's own TLS %s us -> %sx" % (
                             fmt(b.get("cpu_agents")), fmt(n.get("cpu_us_per_heartbeat")),
                             fmt(n.get("cpu_us_per_heartbeat_nginx")), fmt(n.get("cpu_us_per_heartbeat_ampora")),
                             fmt(o.get("cpu_us_per_heartbeat")), fmt(b.get("nginx_over_own_cpu_per_heartbeat"))))
    c = res.get("c")
    if c:
        lines.append("(c) handshakes, concurrency %d, %g s each (ampora --loops %s; s_server is one thread)"
                     % (c["concurrency"], c["duration_s"], c["ampora_loops"]))
        lines.append("    %-24s %9s %9s %9s %12s %12s %7s" % ("server", "per s", "full", "resumed",
                                                            "srv us/hs", "cli us/hs", "errors"))
        for label, h in c["handshakes"].items():
            lines.append("    %-24s %9s %9s %9s %12s %12s %7s" % (
                label, fmt(h.get("per_s")), fmt(h.get("full")), fmt(h.get("resumed")),
                fmt(h.get("server_cpu_us_per_handshake")), fmt(h.get("client_cpu_us_per_handshake")),
                fmt(h.get("errors"))))
        for label, s in c.get("storm", {}).items():
            lines.append("    %s: %s agents dropped, all back in %s s (%s/s; full %s, resumed %s, errors %s)" % (
                label, fmt(s.get("dropped")), fmt(s.get("time_to_all_back_s")), fmt(s.get("reconnects_per_s")),
                fmt(s.get("tls_full")), fmt(s.get("tls_resumed")), fmt(s.get("errors"))))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------

def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "loadavg_start": os.getloadavg()}
    for key, cmd in (("openssl", ["openssl", "version"]), ("nginx", ["nginx", "-v"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            info[key] = (r.stdout or r.stderr).strip()
        except OSError:
            info[key] = None
    try:
        info["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        pass
    return info


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=100000, help="agents for (a), (b) and the storm (default 100000)")
    ap.add_argument("--ampora-bin", default=os.path.join(ROOT, ".build", "release", "ampora"))
    ap.add_argument("--parts", default="a,b,c", help="which parts to run, e.g. a,c (default a,b,c)")
    ap.add_argument("--pin", action="store_true",
                    help="ampora on CPU 0 (taskset), this script and the load generator on CPU 1: the server's "
                         "CPU per heartbeat without the generator's TLS work on the same core (2 CPUs needed)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 000 agents, heartbeat 2 s, short windows, nginx at 2 000 connections "
                         "(< 2 minutes)")
    ap.add_argument("--out", help="result file (default Benchmarks/results/tls/tls-scale-<agents>[-quick].json)")
    ap.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats per agent")
    ap.add_argument("--steady", type=float, help="seconds of steady state measured (default 60; quick 5)")
    ap.add_argument("--plain-rate", type=float, default=10000.0, help="connects per second for plain agents")
    ap.add_argument("--tls-rate", type=float, default=800.0,
                    help="connects per second for TLS agents (client and server share 2 cores: a full "
                         "mutual-TLS handshake costs both ends about 1 ms each)")
    ap.add_argument("--max-inflight", type=int, default=1000, help="handshakes in flight, all workers")
    ap.add_argument("--a-modes", default="plain,mtls",
                    help="(a) modes: plain, tls (server certificate only), mtls (default plain,mtls)")
    ap.add_argument("--nginx-bin", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--nginx-worker-connections", type=int,
                    help="nginx worker_connections (default 20000 = the descriptor limit; quick 2000)")
    ap.add_argument("--nginx-client-auth", choices=("require", "none"), default="require",
                    help="nginx asks for client certificates like (a)'s mutual TLS (default) or not")
    ap.add_argument("--plateau", type=float, help="(b) seconds without growth after errors that end the "
                    "capacity run (default 15; quick 4)")
    ap.add_argument("--concurrency", type=int, default=64, help="(c) handshakes in flight")
    ap.add_argument("--hs-duration", type=float, help="(c) seconds per handshake run (default 15; quick 2)")
    ap.add_argument("--hs-loops", type=int, default=1,
                    help="(c) ampora --loops for the handshake runs (1: one thread, like s_server)")
    ap.add_argument("--storm-rate", type=float, default=20000.0,
                    help="(c) reconnects per second after the drop (the pace cap; --max-inflight also bounds it)")
    ap.add_argument("--storm-after", type=float,
                    help="(c) seconds after every agent is connected before the drop (default 5; quick 2)")
    ap.add_argument("--storm-tls", choices=("tls", "mtls"), default="tls",
                    help="(c) storm over server-authenticated TLS (default) or mutual TLS")
    opts = ap.parse_args(argv)
    if opts.quick:
        if "--agents" not in (argv if argv is not None else sys.argv):
            opts.agents = 2000
        opts.steady = opts.steady or 5
        opts.hs_duration = opts.hs_duration or 2
        if "--heartbeat" not in (argv if argv is not None else sys.argv):
            opts.heartbeat = 2.0       # more heartbeats in the short windows
        opts.plateau = opts.plateau or 4
        opts.storm_after = opts.storm_after or 2
        opts.nginx_worker_connections = opts.nginx_worker_connections or 2000
        opts.tls_rate = max(opts.tls_rate, 1000.0)
    opts.steady = opts.steady or 60
    opts.storm_after = opts.storm_after or 5
    opts.hs_duration = opts.hs_duration or 15
    opts.plateau = opts.plateau or 15
    opts.nginx_worker_connections = opts.nginx_worker_connections or 20000
    opts.parts = [p.strip() for p in opts.parts.split(",") if p.strip()]
    opts.a_modes = [m.strip() for m in opts.a_modes.split(",") if m.strip()]
    if set(opts.parts) - {"a", "b", "c"} or set(opts.a_modes) - {"plain", "tls", "mtls"}:
        ap.error("--parts takes a, b, c; --a-modes takes plain, tls, mtls")
    if opts.agents <= 0:
        ap.error("--agents must be > 0")
    return opts


def main(argv=None):
    opts = parse_args(argv)
    if opts.pin:
        if os.cpu_count() < 2 or shutil.which("taskset") is None:
            raise SystemExit("tls_scale: --pin needs two CPUs and taskset (util-linux)")
        os.sched_setaffinity(0, {1})  # the load generator's workers inherit it
    opts.ampora_bin = os.path.abspath(opts.ampora_bin)
    if not os.access(opts.ampora_bin, os.X_OK):
        raise SystemExit("tls_scale: %s is not built (swift build -c release --product ampora) or pass --ampora-bin"
                         % opts.ampora_bin)
    helptext = subprocess.run([opts.ampora_bin, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    if "--opamp-tls-listen" not in helptext:
        raise SystemExit("tls_scale: %s has no --opamp-tls-listen (a build without agent TLS)" % opts.ampora_bin)
    if "b" in opts.parts and not os.access(opts.nginx_bin, os.X_OK):
        raise SystemExit("tls_scale: nginx not found (apt-get install nginx, or --parts a,c)")
    r = subprocess.run(["make", "-s", "-C", LOADGEN], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("tls_scale: building the load generator failed:\n%s" % r.stderr[-1500:])

    out_path = opts.out or os.path.join(BENCH, "results", "tls", "tls-scale-%d%s.json" % (
        opts.agents, "-quick" if opts.quick else ""))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    work = tempfile.mkdtemp(prefix="tls-scale-")
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + (argv if argv is not None else sys.argv[1:])),
           "quick": opts.quick, "pinned": opts.pin, "agents": opts.agents, "heartbeat_s": opts.heartbeat, "steady_s": opts.steady,
           "plain_rate": opts.plain_rate, "tls_rate": opts.tls_rate, "ampora_bin": opts.ampora_bin,
           "ampora_args_note": "every server: --idle-timeout 600 --registration-rate 0 (nginx sends all agents "
                               "from one address) and a throwaway SQLite database",
           "machine": machine(), "workdir": work}
    t0 = time.monotonic()
    ok = False

    def on_term(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        certs = make_certs(work)
        res["certificates"] = "ECDSA P-256, server CA and client CA made with the openssl CLI in %s" % work
        for part, fn in (("a", part_a), ("b", part_b), ("c", part_c)):
            if part in opts.parts:
                t = time.monotonic()
                log("part (%s) ..." % part)
                res[part] = fn(opts, certs, work)
                res[part]["elapsed_s"] = round(time.monotonic() - t, 1)
        ok = True
    except Fail as e:
        res["failed"] = str(e)
        log("FAILED: %s" % e)
    except KeyboardInterrupt:
        res["failed"] = "interrupted"
        log("interrupted")
    finally:
        stop_all()
        res["elapsed_s"] = round(time.monotonic() - t0, 1)
        res["machine"]["loadavg_end"] = os.getloadavg()
        with open(out_path, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    print(summary(res))
    print("result: %s (%.0f s); work dir %s" % (os.path.relpath(out_path), res["elapsed_s"], work))
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
