#!/usr/bin/env python3
"""Drives opamp-load workers against one OpAMP server on loopback and measures that server
from outside (RSS and CPU of its PID from /proc). Python 3 standard library only.

    ./run_load.py --target 127.0.0.1:4320 --server-pid PID --agents 25000 \\
                  --heartbeat 5 --duration 40 --rate 2000 --out result.json

Agents are spread over worker processes (at most --per-worker each: a process may open 20 000
descriptors here) and over source addresses 127.0.0.2, 127.0.0.3, ... (at most --per-source
each: above ~10 000 connections per source/destination pair connect() slows down ~15x).
Consecutive agents share a source, so a source can be split between two workers.

With --tls (and --tls-ca, --tls-cert/--tls-key, --tls-resume) every worker speaks TLS to the
target; --storm-at S drops every connection S seconds after the start and measures the time
until every agent is back (--storm-rate paces the reconnects). A caller may also start the storm
whenever it likes by sending SIGUSR1 to the workers (a Controller sees them in on_sample).

Progress goes to stderr once a second; the result is one JSON file. Exit status: 0, 1 if any
protocol violation was seen (or a worker reported one), 2 on a setup/worker failure.
"""
import argparse
import ipaddress
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------------------
# Server sampling

def read_server(pid):
    """RSS in kB and CPU seconds (utime+stime, all threads) of `pid`, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        with open("/proc/%d/stat" % pid) as f:
            # comm may contain spaces: fields start after the last ')'
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
        return {"rss_kb": rss, "cpu_s": cpu}
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def read_kernel():
    """Slab (kB) and TCP socket-buffer pages: kernel memory that RSS does not show."""
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for l in f:
                k = l.split(":")[0]
                if k in ("Slab", "SUnreclaim"):
                    out[k.lower() + "_kb"] = int(l.split()[1])
        with open("/proc/net/sockstat") as f:
            for l in f:
                if l.startswith("TCP:"):
                    parts = l.split()
                    vals = dict(zip(parts[1::2], parts[2::2]))
                    out["tcp_inuse"] = int(vals.get("inuse", 0))
                    out["tcp_mem_kb"] = int(vals.get("mem", 0)) * PAGE // 1024
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------------------------
# Histograms (the workers' sparse [[upper_us, count], ...] form)

def merge_hist(into, sparse):
    for upper, count in sparse:
        into[upper] = into.get(upper, 0) + count


def quantile(hist, q):
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, min(total, int(q * total + 0.5)))
    seen = 0
    for upper in sorted(hist):
        seen += hist[upper]
        if seen >= rank:
            return upper
    return max(hist)


def summarize(hist):
    if not hist:
        return {"p50": None, "p99": None, "p999": None, "max": None, "samples": 0}
    return {"p50": quantile(hist, 0.5), "p99": quantile(hist, 0.99), "p999": quantile(hist, 0.999),
            "max": max(hist), "samples": sum(hist.values())}


# ---------------------------------------------------------------------------------------------
# Planning

def plan(agents, per_worker, per_source, first_source):
    """Workers as (count, [(source, n), ...]). Sources get an even share (≤ per_source) over
    the global agent index; a worker takes a contiguous index range, so it uses 1-3 sources."""
    nworkers = math.ceil(agents / per_worker)
    nsources = max(math.ceil(agents / per_source), 1)
    base = ipaddress.IPv4Address(first_source)
    src_bounds = [round(i * agents / nsources) for i in range(nsources + 1)]
    wrk_bounds = [round(i * agents / nworkers) for i in range(nworkers + 1)]
    workers = []
    for w in range(nworkers):
        lo, hi = wrk_bounds[w], wrk_bounds[w + 1]
        parts = []
        for s in range(nsources):
            a, b = max(lo, src_bounds[s]), min(hi, src_bounds[s + 1])
            if b > a:
                parts.append((str(base + s), b - a))
        if len(parts) > 4:
            raise SystemExit("run_load: a worker would need more than 4 source addresses; "
                             "lower --per-worker or raise --per-source")
        workers.append((hi - lo, parts))
    sources = [str(base + s) for s in range(nsources)]
    for s in sources:
        if not ipaddress.IPv4Address(s) in ipaddress.IPv4Network("127.0.0.0/8"):
            raise SystemExit("run_load: source addresses ran past 127.255.255.255")
    return workers, sources


# ---------------------------------------------------------------------------------------------
# Worker output

class Worker:
    def __init__(self, wid, proc):
        self.wid = wid
        self.proc = proc
        self.buf = b""
        self.last = None    # latest interval line
        self.final = None   # final line
        self.intervals = []

    def feed(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                sys.stderr.write("\nrun_load: bad worker line: %r\n" % line[:200])
                continue
            if obj.get("type") == "final":
                self.final = obj
            else:
                self.intervals.append((time.monotonic(), obj))
            self.last = obj


def wait_worker(proc):
    """Exit status and CPU seconds of one worker (its own rusage, not every child's)."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:      # already reaped by a poll(): status known, CPU not
        return proc.wait(), 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def totals(workers, key):
    return sum((w.last or {}).get(key, 0) for w in workers)


class Controller:
    """Hooks a scenario (ampora-bench) uses to act during a run; the default does nothing.

    `pid()` is the server PID to sample now (a storm restarts the server), `on_sample` is called
    once a second with the sample and the workers, `status()` is appended to the progress line,
    `done()` ends the run early (workers get SIGTERM and report), `finish(result)` adds the
    scenario's own figures. Hooks must not block: slow work belongs in a thread."""

    def __init__(self, pid=None):
        self._pid = pid

    def pid(self):
        return self._pid

    def on_sample(self, now, sample, workers):
        pass

    def status(self):
        return ""

    def done(self):
        return False

    def finish(self, result):
        pass


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="127.x.y.z:PORT of the server")
    ap.add_argument("--server-pid", type=int, help="PID to sample (RSS, CPU); omit to skip")
    ap.add_argument("--agents", type=int, required=True)
    ap.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds; workers stop by themselves")
    ap.add_argument("--rate", type=float, default=2000.0, help="connects per second, all workers together")
    ap.add_argument("--out", default="result.json")
    ap.add_argument("--per-worker", type=int, default=19900, help="agents per worker process (fd limit 20 000)")
    ap.add_argument("--per-source", type=int, default=10000, help="agents per source address")
    ap.add_argument("--first-source", default="127.0.0.2")
    ap.add_argument("--attributes", type=int, default=3,
                    help="resource attributes per agent description, 3 to 20 (most shared across agents)")
    ap.add_argument("--max-inflight", type=int, default=1000,
                    help="handshakes in flight, all workers together (listen backlogs are ~2-4 k)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to wait before 'before' and 'after' samples")
    ap.add_argument("--loadgen", default=os.path.join(HERE, "opamp-load"))
    ap.add_argument("--transport", choices=("ws", "http"), default="ws",
                    help="agents talk WebSocket (default) or poll over plain HTTP")
    ap.add_argument("--quiet", action="store_true", help="no progress line (results only)")
    ap.add_argument("--sample-interval", type=float, default=1.0,
                    help="seconds between samples (and the workers' stats lines): the resolution of timed phases")
    tls = ap.add_argument_group("TLS (passed to every worker)")
    tls.add_argument("--tls", action="store_true", help="agents connect over TLS")
    tls.add_argument("--tls-ca", help="CA file (PEM) to verify the server with (default: no verification)")
    tls.add_argument("--tls-cert", help="client certificate chain (PEM), shared by all agents")
    tls.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    tls.add_argument("--tls-resume", action="store_true",
                     help="resume sessions: each worker offers the newest ticket it received")
    tls.add_argument("--tls-sni", help="server name to send (SNI) and verify (default: none; "
                     "with --tls-ca the target address must be in the certificate)")
    tls.add_argument("--tls-max", choices=("1.2", "1.3"), help="newest TLS version offered")
    st = ap.add_argument_group("reconnect storm")
    st.add_argument("--storm-at", type=float, default=0.0,
                    help="seconds after the start at which every worker drops all its connections at once")
    st.add_argument("--storm-rate", type=float, default=0.0,
                    help="reconnects per second after the storm (--storm-at or SIGUSR1), all workers "
                    "together (default: --rate)")
    return ap


def tls_options(args):
    """The TLS options of a run (also for callers that build `args` without this parser)."""
    return {"tls": bool(getattr(args, "tls", False)), "tls_ca": getattr(args, "tls_ca", None),
            "tls_cert": getattr(args, "tls_cert", None), "tls_key": getattr(args, "tls_key", None),
            "tls_resume": bool(getattr(args, "tls_resume", False)),
            "tls_sni": getattr(args, "tls_sni", None), "tls_max": getattr(args, "tls_max", None)}


def worker_tls_args(opts):
    if not opts["tls"]:
        return []
    cmd = ["--tls"]
    for key in ("tls_ca", "tls_cert", "tls_key", "tls_sni", "tls_max"):
        if opts[key]:
            cmd += ["--" + key.replace("_", "-"), str(opts[key])]
    if opts["tls_resume"]:
        cmd.append("--tls-resume")
    return cmd


def main():
    args = build_parser().parse_args()
    result, rc = run(args)
    return rc


def run(args, controller=None):
    """One load run: returns (result dict, exit status). The result is also written to
    args.out when that is set."""
    controller = controller or Controller(args.server_pid)

    host, _, port = args.target.rpartition(":")
    if ipaddress.IPv4Address(host) not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise SystemExit("run_load: --target must be on 127.0.0.0/8")
    if args.agents <= 0 or args.duration <= 0 or args.heartbeat <= 0 or args.rate <= 0:
        raise SystemExit("run_load: agents, duration, heartbeat and rate must be > 0")
    if not os.access(args.loadgen, os.X_OK):
        raise SystemExit("run_load: %s not built (run make)" % args.loadgen)
    if controller.pid() and read_server(controller.pid()) is None:
        raise SystemExit("run_load: no process %d" % controller.pid())

    tls = tls_options(args)
    storm_at = getattr(args, "storm_at", 0.0) or 0.0
    storm_rate = getattr(args, "storm_rate", 0.0) or 0.0
    for key in ("tls_ca", "tls_cert", "tls_key"):
        if tls[key] and not os.access(tls[key], os.R_OK):
            raise SystemExit("run_load: cannot read --%s %s" % (key.replace("_", "-"), tls[key]))

    plan_workers, sources = plan(args.agents, args.per_worker, args.per_source, args.first_source)
    interval = getattr(args, "sample_interval", 1.0) or 1.0
    inflight = max(20, args.max_inflight // len(plan_workers))

    samples = []

    def sample(tag, workers=()):
        s = {"t": round(time.monotonic() - t0, 3), "tag": tag}
        pid = controller.pid()
        srv = read_server(pid) if pid else None
        if pid:
            s["pid"] = pid
        if srv:
            s.update(srv)
        s.update(read_kernel())
        s["connected"] = totals(workers, "connected")
        s["replies"] = totals(workers, "replies")
        if any(w.last and "rc_agents_applied" in w.last for w in workers):
            s["rc_agents_applied"] = totals(workers, "rc_agents_applied")
        samples.append(s)
        return s

    t0 = time.monotonic()
    time.sleep(args.settle if controller.pid() else 0)
    before = sample("before")

    # Start the workers; each stops itself after --duration (and its own alarm backstops it).
    workers = []
    sel = selectors.DefaultSelector()
    t_launch = time.monotonic()
    for wid, (count, parts) in enumerate(plan_workers):
        cmd = [args.loadgen, "--target", args.target, "--agents", str(count),
               "--duration", str(args.duration), "--heartbeat", str(args.heartbeat),
               "--rate", "%.3f" % (args.rate * count / args.agents), "--stats-interval", str(interval),
               "--max-inflight", str(inflight), "--worker", str(wid), "--transport", args.transport]
        for src, n in parts:
            cmd += ["--source", "%s=%d" % (src, n)]
        cmd += worker_tls_args(tls)
        if storm_at > 0:
            cmd += ["--storm-at", str(storm_at)]
        if getattr(args, "attributes", 3) != 3:
            cmd += ["--attributes", str(args.attributes)]
        if storm_rate > 0:          # also for a storm a controller starts with SIGUSR1
            cmd += ["--storm-rate", "%.3f" % (storm_rate * count / args.agents)]
        nice = getattr(args, "loadgen_nice", 0) or 0
        if nice:
            cmd = ["nice", "-n", str(nice)] + cmd
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        os.set_blocking(proc.stdout.fileno(), False)
        w = Worker(wid, proc)
        w.launched = time.monotonic()
        workers.append(w)
        sel.register(proc.stdout, selectors.EVENT_READ, w)
    sys.stderr.write("run_load: %d agents (%s%s), %d worker(s), sources %s..%s, target %s\n"
                     % (args.agents, args.transport, " over TLS" if tls["tls"] else "", len(workers),
                        sources[0], sources[-1], args.target))

    # Workers stop themselves at --duration (backstop +30 s) and then get up to 120 s to close
    # their sockets, which at a million agents on two cores takes a while: still bounded.
    hard_stop = t_launch + args.duration + 160
    t_all = None
    at_all = None          # sample when every agent first was connected
    last_connected = None  # last sample taken while the workers ran
    peak_rss = before.get("rss_kb", 0)
    next_sample = time.monotonic() + interval
    open_pipes = len(workers)
    prev = (time.monotonic(), 0)
    stopped_early = None
    while open_pipes:
        now = time.monotonic()
        if stopped_early is None and controller.done():
            stopped_early = round(now - t_launch, 3)
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGTERM)   # workers stop, report and exit
        if now > hard_stop:
            sys.stderr.write("\nrun_load: workers overran their duration; terminating them\n")
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGKILL)
        for key, _ in sel.select(timeout=max(0.0, min(next_sample - now, 1.0))):
            w = key.data
            try:
                data = os.read(key.fileobj.fileno(), 1 << 20)
            except BlockingIOError:
                continue
            if data:
                w.feed(data)
            else:
                sel.unregister(key.fileobj)
                open_pipes -= 1
        now = time.monotonic()
        if now >= next_sample and open_pipes:
            next_sample += interval
            s = sample("run", workers)
            peak_rss = max(peak_rss, s.get("rss_kb", 0))
            if all(w.final is None for w in workers) and stopped_early is None:
                last_connected = s
            controller.on_sample(now, s, workers)
            connected = s["connected"]
            if t_all is None and connected >= args.agents:
                t_all = now - t_launch
                at_all = s
            replies = s["replies"]
            rate = (replies - prev[1]) / max(now - prev[0], 1e-9)
            prev = (now, replies)
            p99 = max(((w.last or {}).get("p99_us") or 0) for w in workers)
            if not args.quiet:
                sys.stderr.write("\r[%6.1fs] connected %d/%d | %.0f msg/s | p99 %d us | errors %d | violations %d %s  "
                                 % (now - t_launch, connected, args.agents, rate, p99,
                                    totals(workers, "errors"), totals(workers, "violations"),
                                    controller.status()))
                sys.stderr.flush()
    if not args.quiet:
        sys.stderr.write("\n")
    waited = [wait_worker(w.proc) for w in workers]
    rcs = [rc for rc, _ in waited]

    time.sleep(args.settle if controller.pid() else 0)
    after = sample("after")

    # ---- aggregate ------------------------------------------------------------------------
    finals = [w.final or w.last or {} for w in workers]

    def fsum(key):
        return sum(f.get(key, 0) for f in finals)

    whole = {}
    for f in finals:
        merge_hist(whole, f.get("hist", []))
    steady = {}
    t_all_abs = t_launch + t_all if t_all is not None else None
    if t_all_abs is not None:
        for w in workers:
            for (ts, obj) in w.intervals:
                if ts > t_all_abs + 1.0:   # intervals that began after all were connected
                    merge_hist(steady, obj.get("hist", []))

    # Each worker timestamps the moment all its agents had their first reply; workers start
    # together, so the slowest one is the run's time to all connected (sampling only 1 s).
    worker_all = [f.get("all_connected_s", -1) for f in finals]
    if worker_all and all(x is not None and x >= 0 for x in worker_all):
        t_all_precise = max(worker_all)
    else:
        t_all_precise = None

    result = {
        "target": args.target,
        "transport": args.transport,
        "server_pid": controller.pid(),
        "stopped_early_at_s": stopped_early,
        "workers": len(workers),
        "sources": sources,
        "plan": [{"agents": c, "sources": dict(p)} for c, p in plan_workers],
        "duration_s": args.duration,
        "heartbeat_s": args.heartbeat,
        "attributes": getattr(args, "attributes", 3),
        "rate_per_s": args.rate,
        "agents_target": args.agents,
        "agents_connected": fsum("connected"),
        "agents_connected_max": max((s["connected"] for s in samples), default=0),
        "time_to_all_connected_s": t_all_precise,
        "handshakes": fsum("handshakes"),
        "handshakes_per_s_during_ramp": round(args.agents / t_all_precise, 1) if t_all_precise else None,
        "msgs_sent": fsum("msgs_sent"),
        "replies": fsum("replies"),
        "errors": fsum("errors"),
        "violations": fsum("violations"),
        "reconnects": fsum("reconnects"),
        "connect_errors": fsum("connect_errors"),
        "connect_timeouts": fsum("connect_timeouts"),
        "rejected": fsum("rejected"),
        "timeouts": fsum("timeouts"),
        "server_closes": fsum("server_closes"),
        "server_errors": fsum("server_errors"),
        "full_state_requests": fsum("full_state_requests"),
        "heartbeats_skipped": fsum("hb_skipped"),
        "latency_us": dict(summarize(whole), scope="heartbeat send->reply, whole run, "
                           "workers' histograms merged exactly (buckets ~1.6 %)"),
        "latency_steady_us": dict(summarize(steady), scope="heartbeats in stats intervals that "
                                  "began after every agent was connected, merged over workers"),
        "latency_p99_max_over_workers_us": max((f.get("p99_us", 0) for f in finals), default=0),
        "worker_exit_codes": rcs,
        # CPU the load generator itself used: on 2 shared cores it competes with the server.
        "loadgen_cpu_s": round(sum(cpu for _, cpu in waited), 3),
        "loadgen_nice": getattr(args, "loadgen_nice", 0) or 0,
    }
    result["tls"] = {"tls": False}
    if tls["tls"]:
        reasons = {}
        for f in finals:
            for k, v in (f.get("tls_error_reasons") or {}).items():
                reasons[k] = reasons.get(k, 0) + v
        result["tls"] = dict(tls, **{
            "handshakes_full": fsum("tls_full"), "handshakes_resumed": fsum("tls_resumed"),
            "handshake_errors": fsum("tls_errors"), "tickets_received": fsum("tls_tickets"),
            "resumptions_declined": fsum("tls_resume_declined"), "error_reasons": reasons,
            "note": "handshakes the clients completed (full or resumed); a TLS 1.3 server that "
                    "refuses a client certificate after that shows in handshake_errors"})
    if storm_at > 0 or any("storm_dropped" in f for f in finals):   # --storm-at, or SIGUSR1
        backs = [f.get("storm_all_back_s", -1) for f in finals]
        result["storm"] = {
            "at_s": max((f.get("storm_at_s", -1) for f in finals), default=None),
            "rate_per_s": storm_rate or args.rate,
            "dropped": fsum("storm_dropped"),
            # every worker dropped its agents at the same offset from its own start (workers
            # start within milliseconds): the slowest worker's time is the storm's
            "time_to_all_back_s": max(backs) if backs and all(b is not None and b >= 0 for b in backs) else None,
            "per_worker_back_s": backs,
            "tls_full": fsum("storm_tls_full"), "tls_resumed": fsum("storm_tls_resumed"),
            "errors": fsum("storm_errors"),
        }

    # Steady-state rates, between 'all connected' and the last sample while workers ran.
    if at_all and last_connected and last_connected["t"] > at_all["t"]:
        dt = last_connected["t"] - at_all["t"]
        dmsg = last_connected["replies"] - at_all["replies"]
        result["steady_window_s"] = round(dt, 3)
        result["heartbeats_per_s"] = round(dmsg / dt, 1)
    else:
        result["steady_window_s"] = None
        result["heartbeats_per_s"] = None

    if controller.pid() and "rss_kb" in before and before.get("pid") == after.get("pid"):
        server = {"rss_before_kb": before["rss_kb"], "rss_peak_kb": peak_rss,
                  "rss_after_kb": after.get("rss_kb")}
        ref = last_connected or at_all
        if ref and "rss_kb" in ref and ref["connected"]:
            server["rss_connected_kb"] = ref["rss_kb"]
            server["rss_growth_per_agent_bytes"] = round((ref["rss_kb"] - before["rss_kb"]) * 1024 / ref["connected"], 1)
            server["rss_growth_note"] = ("(RSS at the last sample with the agents connected - RSS before) "
                                         "/ agents connected at that sample")
        if "cpu_s" in after:
            total_cpu = after["cpu_s"] - before["cpu_s"]
            server["cpu_s_total"] = round(total_cpu, 3)
            if result["replies"]:
                server["cpu_s_per_1000_msgs_total"] = round(total_cpu / result["replies"] * 1000, 6)
        if at_all and last_connected and "cpu_s" in at_all and last_connected["replies"] > at_all["replies"]:
            cpu = last_connected["cpu_s"] - at_all["cpu_s"]
            msgs = last_connected["replies"] - at_all["replies"]
            server["cpu_s_steady"] = round(cpu, 3)
            server["cpu_s_per_1000_msgs"] = round(cpu / msgs * 1000, 6)
            server["cpu_note"] = ("steady state: server CPU between the first sample with all agents "
                                  "connected and the last sample before the workers stopped, over the "
                                  "replies counted in that window (1 s sampling, 10 ms CPU ticks)")
        result["server"] = server

    ref = last_connected or at_all
    if ref and "slab_kb" in before and ref["connected"]:
        result["kernel"] = {
            "slab_before_kb": before["slab_kb"], "slab_connected_kb": ref["slab_kb"],
            "slab_growth_per_agent_bytes": round((ref["slab_kb"] - before["slab_kb"]) * 1024 / ref["connected"], 1),
            "tcp_mem_connected_kb": ref.get("tcp_mem_kb"),
            "note": "machine-wide: counts BOTH ends of every loopback connection (load generator and server)",
        }
    result["samples"] = samples

    # Scenario hooks see the per-worker final lines and launch times (exact timestamps).
    result["_workers"] = [{"launched": w.launched, "final": w.final or w.last or {}} for w in workers]
    controller.finish(result)
    result.pop("_workers", None)

    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    brief = {k: result.get(k) for k in ("agents_target", "agents_connected", "time_to_all_connected_s",
                                          "heartbeats_per_s", "errors", "violations")}
    brief["p99_us"] = result["latency_us"]["p99"]
    if "storm" in result:
        brief["storm_back_s"] = result["storm"]["time_to_all_back_s"]
    if "server" in result:
        brief["rss_per_agent_B"] = result["server"].get("rss_growth_per_agent_bytes")
        brief["cpu_s_per_1000_msgs"] = result["server"].get("cpu_s_per_1000_msgs")
    sys.stderr.write("run_load: %s -> %s\n" % (json.dumps(brief), args.out))

    if result["violations"] or any(rc == 1 for rc in rcs):
        return result, 1
    if any(rc not in (0, 1) for rc in rcs):
        return result, 2
    return result, 0


if __name__ == "__main__":
    sys.exit(main())
