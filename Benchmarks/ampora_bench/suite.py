"""`ampora-bench suite --quick|--full`: every scenario against Ampora and, where it applies,
the C echo floor, in one run; ratios (Ampora ÷ floor) from the same run, because the machine
is shared and noisy. Writes one result file per run, suite.json, summary.md and plot.svg."""
import copy
import json
import os
import signal
import sys
import time

from . import machine, svgplot
from .servers import BenchError, build_loadgen

# (name, scenario, agents, heartbeat s, duration s, rate/s, peers)
QUICK = [
    ("connect-20k", "connect", 20000, 30, 30, 20000, ("ampora", "floor")),
    ("steady-10k", "steady", 10000, 5, 30, 10000, ("ampora", "floor")),
    ("steady-20k", "steady", 20000, 5, 30, 10000, ("ampora", "floor")),
    ("steady-50k", "steady", 50000, 5, 35, 10000, ("ampora", "floor")),
    ("storm-20k", "storm", 20000, 10, 60, 20000, ("ampora", "floor")),
    ("http-5k", "http", 5000, 1, 25, 5000, ("ampora", "floor")),
    ("push-20k", "push", 20000, 30, 90, 10000, ("ampora",)),
]
FULL = [
    ("connect-50k", "connect", 50000, 30, 40, 20000, ("ampora", "floor")),
    ("steady-10k", "steady", 10000, 10, 60, 10000, ("ampora", "floor")),
    ("steady-50k", "steady", 50000, 10, 60, 10000, ("ampora", "floor")),
    ("steady-100k", "steady", 100000, 10, 70, 10000, ("ampora", "floor")),
    ("storm-50k", "storm", 50000, 20, 90, 20000, ("ampora", "floor")),
    ("http-20k", "http", 20000, 5, 40, 10000, ("ampora", "floor")),
    ("push-100k", "push", 100000, 60, 120, 10000, ("ampora",)),
]
# A minute-long pass over every code path of the suite (not for figures).
SMOKE = [(name.split("-")[0] + "-300", scen, 300, min(hb, 2), 8 if scen != "storm" else 15, 1000, peers)
         for name, scen, _, hb, _, _, peers in QUICK if not name.startswith("steady-") or name == "steady-10k"]

# Figures compared per scenario: (key, label, unit, lower is better)
FIGURES = {
    "connect": [("time_to_all_connected_s", "time until all connected", "s", True),
                ("handshakes_per_s", "full handshakes/s during the ramp", "/s", False)],
    "steady": [("cpu_ms_per_1000_msgs", "server CPU per 1 000 heartbeats", "ms", True),
               ("rss_per_agent_bytes", "server RSS growth per agent", "B", True),
               ("p50_us", "reply latency p50", "µs", True),
               ("p99_us", "reply latency p99", "µs", True),
               ("p999_us", "reply latency p999", "µs", True),
               ("heartbeats_per_s", "heartbeats answered/s", "/s", False)],
    "storm": [("reconnect_s_from_ready", "restarted server ready → all agents reconnected", "s", True),
              ("reconnects_per_s", "reconnections/s after the restart", "/s", False)],
    "http": [("cpu_ms_per_1000_msgs", "server CPU per 1 000 polls", "ms", True),
             ("rss_per_agent_bytes", "server RSS growth per agent", "B", True),
             ("p99_us", "request → response p99", "µs", True),
             ("heartbeats_per_s", "polls answered/s", "/s", False)],
    "push": [("push_s_server_view", "assignment POST → all APPLIED (API view)", "s", True),
             ("push_s_agents_view", "assignment POST → last agent sent APPLIED", "s", True)],
}


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return round(a / b, 2)


def summarize(runs):
    """Rows (name, scenario, figure label, ampora value, floor value, ratio, unit)."""
    rows = []
    by_name = {}
    for r in runs:
        by_name.setdefault(r["name"], {})[r.get("peer")] = r
    steady_ws = {}
    for name, peers in by_name.items():
        amp = peers.get("ampora")
        if amp and amp["scenario"] == "steady" and amp.get("ok"):
            steady_ws[amp["agents_target"]] = amp
    for name, peers in by_name.items():
        amp, floor = peers.get("ampora"), peers.get("echo-floor")
        scenario = (amp or floor)["scenario"]
        for key, label, unit, _ in FIGURES[scenario]:
            a = (amp or {}).get("figures", {}).get(key) if amp and amp.get("ok") else None
            f = (floor or {}).get("figures", {}).get(key) if floor and floor.get("ok") else None
            rows.append(dict(name=name, scenario=scenario, figure=label, unit=unit, ampora=a, floor=f,
                             ratio=ratio(a, f), status=_status(amp), floor_status=_status(floor)))
        if scenario == "http" and amp and amp.get("ok") and steady_ws:
            # The HTTP transport's peer: Ampora's own WebSocket steady run nearest in size.
            ws = steady_ws[min(steady_ws, key=lambda n: abs(n - amp["agents_target"]))]
            a = amp["figures"].get("cpu_ms_per_1000_msgs")
            w = ws["figures"].get("cpu_ms_per_1000_msgs")
            rows.append(dict(name=name, scenario=scenario, figure="CPU per message, HTTP ÷ WebSocket (%s)" % ws["name"],
                             unit="ms", ampora=a, floor=w, ratio=ratio(a, w), status="ok", floor_status="ws"))
    return rows


def _status(run):
    if run is None:
        return "-"
    if run.get("ok"):
        return "ok"
    if "no Fleet operator API" in (run.get("scenario_error") or ""):
        return "n/a: this build has no Fleet operator API"
    return "FAILED: " + (run.get("scenario_error") or "violations %s" % run.get("violations"))


def markdown(rows, meta, runs=()):
    out = ["Suite `%s`, %s, machine: %s × %s, %s GB, kernel %s; command: `%s`" % (
        meta["mode"], meta["date"], meta["machine"]["nproc"], meta["machine"]["cpu"], meta["machine"]["mem_gb"],
        meta["machine"]["kernel"], meta["command"]), ""]
    commands = {}
    for run in runs:
        commands.setdefault(run.get("name"), []).append(run.get("command") or "")
    current = None
    for r in rows:
        if r["name"] != current:
            if current in commands:
                out += [""] + ["`%s`  " % c for c in commands[current]]
            current = r["name"]
            out += ["", "| %s | Ampora | peer | ratio (Ampora ÷ peer) |" % current, "| --- | ---: | ---: | ---: |"]

        def cell(v, status):
            if v is None:
                return status if status not in ("ok", "ws", "-") else "–"
            return "%s %s" % (("{:,}".format(v) if isinstance(v, int) else "{:,.3g}".format(v) if v < 100 else "{:,.0f}".format(v)), r["unit"])
        out.append("| %s | %s | %s | %s |" % (r["figure"], cell(r["ampora"], r["status"]),
                                              cell(r["floor"], r["floor_status"]),
                                              "%.2f×" % r["ratio"] if r["ratio"] is not None else "–"))
    if current in commands:
        out += [""] + ["`%s`  " % c for c in commands[current]]
    return "\n".join(out) + "\n"


def run(opts, run_load):
    plan = SMOKE if opts.smoke else QUICK if opts.quick else FULL
    mode = "--smoke" if opts.smoke else "--quick" if opts.quick else "--full"
    os.makedirs(opts.out_dir, exist_ok=True)
    build_loadgen()
    budget = sum(p[4] + 40 for p in plan for _ in p[6]) + 300
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(int(budget))        # the whole suite ends by itself
    t0 = time.monotonic()
    meta = {"mode": mode, "date": machine.now_utc(), "machine": machine.describe(), "command": " ".join(sys.argv)}
    runs = []
    worst = 0
    for name, scenario, agents, hb, duration, rate, peers in plan:
        for peer in peers:
            o = copy.copy(opts)
            o.agents, o.heartbeat, o.duration, o.rate = agents, hb, duration, rate
            o.target = o.server_pid = o.http = None
            o.storm_after, o.config_bytes, o.push_timeout = 3.0, 4096, 60.0
            argv = ["ampora-bench", "load", "--scenario", scenario, "--peer", peer, "--agents", str(agents),
                    "--heartbeat", str(hb), "--duration", str(duration), "--rate", str(rate)]
            sys.stderr.write("\n=== %s / %s (%.0f s into the suite)\n" % (name, peer, time.monotonic() - t0))
            try:
                result, rc = run_load(o, scenario, peer, argv)
            except BenchError as e:
                sys.stderr.write("ampora-bench: %s / %s: %s\n" % (name, peer, e))
                result, rc = {"scenario": scenario, "peer": "ampora" if peer == "ampora" else "echo-floor",
                              "ok": False, "scenario_error": str(e), "agents_target": agents,
                              "command": " ".join(argv), "date": machine.now_utc()}, 0
            result["name"] = name
            path = os.path.join(opts.out_dir, "%s-%s.json" % (name, peer))
            with open(path, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
            runs.append(result)
            if rc == 1:
                worst = 1       # a protocol violation fails the suite
    signal.alarm(0)
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    rows = summarize(runs)
    md = markdown(rows, meta, runs)
    with open(os.path.join(opts.out_dir, "suite.json"), "w") as f:
        json.dump(dict(meta, rows=rows, runs=[{k: v for k, v in r.items() if k != "samples"} for r in runs]), f, indent=1)
        f.write("\n")
    with open(os.path.join(opts.out_dir, "summary.md"), "w") as f:
        f.write(md)
    svgplot.plot_files([os.path.join(opts.out_dir, "suite.json")], os.path.join(opts.out_dir, "plot.svg"),
                       "ampora-bench suite %s: steady heartbeats, Ampora vs C echo floor (%s)" % (mode, meta["date"][:10]))
    sys.stdout.write(md)
    sys.stderr.write("ampora-bench: suite took %.0f s; results in %s\n" % (meta["elapsed_s"], opts.out_dir))
    return worst


def _deadline(signum, frame):
    raise BenchError("the suite overran its time bound and was stopped")
