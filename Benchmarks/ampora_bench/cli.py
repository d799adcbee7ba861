"""Command line: `ampora-bench load|suite|plot` (see ../README.md and BENCHMARKS.md)."""
import argparse
import json
import math
import os
import signal
import sys
import time

from . import machine, scenarios, suite, svgplot
from .servers import (BENCH, AmporaServer, BenchError, EchoFloor, Server, SmallTmpfs, ThrowawayPostgres, build_loadgen,
                      check_loopback, default_ampora_bin)


class Deadline(Exception):
    pass


def _alarm(signum, frame):
    raise Deadline()


def add_server_options(ap):
    g = ap.add_argument_group("server (default: the harness starts `ampora serve` on free loopback ports)")
    g.add_argument("--ampora-bin", default=default_ampora_bin(), help="ampora binary (default: .build/release/ampora)")
    g.add_argument("--io", choices=("auto", "uring", "epoll"), default="auto", help="ampora serve --io")
    g.add_argument("--loops", type=int, help="ampora serve --loops")
    g.add_argument("--server-arg", action="append", default=[], help="extra ampora serve argument (repeatable)")


def add_load_options(ap):
    g = ap.add_argument_group("load generator")
    g.add_argument("--per-worker", type=int, default=19900, help="agents per worker process (fd limit 20 000)")
    g.add_argument("--per-source", type=int, default=10000, help="agents per source address 127.0.0.2, .3, ...")
    g.add_argument("--first-source", default="127.0.0.2")
    g.add_argument("--max-inflight", type=int, default=1000, help="handshakes in flight, all workers")
    g.add_argument("--settle", type=float, default=2.0, help="seconds before the 'before'/'after' samples")
    g.add_argument("--attributes", type=int, default=3,
                   help="resource attributes per agent description, 3 to 20 (20: a realistic Collector)")
    g.add_argument("--quiet", action="store_true", help="no live progress line")
    g.add_argument("--loadgen-nice", type=int, default=0,
                   help="run the workers at this nice value: with 10, the simulated agents (remote machines "
                        "in a real fleet) yield the shared cores to the server being measured (default 0)")


def build_parser():
    ap = argparse.ArgumentParser(prog="ampora-bench", description="Load generator and benchmark runner for Ampora.")
    sub = ap.add_subparsers(dest="command", required=True)

    ld = sub.add_parser("load", help="one load scenario against one server")
    ld.add_argument("--scenario", choices=scenarios.SCENARIOS, required=True,
                    help="connect: ramp to N, time to all connected; steady: heartbeats, reply latency; "
                         "storm: restart the server, time until all reconnected; push: assign a config to all "
                         "(the operator API of the README), time until all APPLIED; http: N plain-HTTP polling agents; "
                         "rollout: a staged rollout to all, time until completed (or, --canary, paused; "
                         "--subscribers N event stream clients meanwhile); api: operator listings with filters, "
                         "timed while the agents are held; kill9: SIGKILL the server under load and restart it; "
                         "pgkill: kill PostgreSQL during a push; diskfull: fill the SQLite database's tmpfs "
                         "(see BENCHMARKS.md, Chaos)")
    ld.add_argument("--agents", type=int, help="agents (default per scenario: %s)"
                    % ", ".join("%s %d" % (k, v["agents"]) for k, v in scenarios.DEFAULTS.items()))
    ld.add_argument("--heartbeat", type=float, help="seconds between heartbeats (HTTP: polls) per agent")
    ld.add_argument("--duration", type=float, help="upper bound of the load phase in seconds")
    ld.add_argument("--rate", type=float, help="new connections per second, all workers together")
    ld.add_argument("--peer", choices=("ampora", "floor"), default="ampora",
                    help="server to start: ampora serve, or the C io_uring echo floor (every scenario but push)")
    ld.add_argument("--target", help="use a running server: its agent address 127.x.y.z:PORT")
    ld.add_argument("--server-pid", type=int, help="with --target: PID to sample from /proc")
    ld.add_argument("--http", help="with --target: its operator address 127.x.y.z:PORT (push)")
    ld.add_argument("--token", help="with --target: an operator token (default AMPORA_TOKEN)")
    ld.add_argument("--out", help="JSON result file (default: Benchmarks/runs/SCENARIO-PEER-TIME.json, ignored by git)")
    ld.add_argument("--storm-after", type=float, default=3.0, help="storm: seconds after the ramp to restart")
    ld.add_argument("--config-bytes", type=int, default=4096, help="push: size of the pushed YAML")
    ld.add_argument("--push-timeout", type=float, default=60.0,
                    help="push, rollout: seconds to wait for all APPLIED (rollout: completed, or paused)")
    ld.add_argument("--batches", type=int, default=10,
                    help="rollout: equal stages (10: 10 %%, 20 %%, … of all agents), no soak")
    ld.add_argument("--subscribers", type=int, default=0,
                    help="rollout: clients of GET /api/v1/events (every event) during the rollout")
    ld.add_argument("--subscribe-kind", help="rollout: subscribers ask for this event kind only (kind=…)")
    ld.add_argument("--rounds", type=int, default=200, help="api: requests per listing query")
    ld.add_argument("--after", "--api-after", dest="api_after", type=float, default=2.0,
                    help="api, rollout: seconds after every agent is connected before the first request or "
                         "the rollout's POST (default 2; 60 lets the server finish taking in the ramp, so "
                         "they see the steady state)")
    ld.add_argument("--canary", choices=tuple(scenarios.CANARIES),
                    help="rollout: a 1 %% canary stage, then the rest, whose config makes the load generator's "
                         "agents misbehave; time until the gate pauses the rollout. fail: they report it FAILED "
                         "(gate maxFailed 0 %%); stall: they never answer it, so the server marks them STALLED "
                         "after its apply timeout (maxStalled 0 %%; see --apply-timeout); unhealthy: they apply "
                         "it, then report themselves unhealthy (maxUnhealthy 0 %%; see --soak); rollback: the same config "
                         "without the marker goes to every agent first, then they fail the canary's and report the "
                         "old one APPLIED, as the Collector's Supervisor does (ROLLED_BACK; gate maxFailed 0 %%)")
    ld.add_argument("--canary-fail", dest="canary", action="store_const", const="fail",
                    help="rollout: the same as --canary fail")
    ld.add_argument("--soak", type=int, metavar="SECONDS",
                    help="rollout: soakSeconds between stages (default 0; 10 with --canary unhealthy, whose "
                         "agents report their health in the message after APPLIED: with no soak the canary "
                         "stage may end before the health arrives; a gate still pauses at once during a soak)")
    ld.add_argument("--apply-timeout", type=int, metavar="SECONDS",
                    help="rollout: the server's --config-apply-timeout in whole seconds, after which agents that "
                         "have not answered a config are STALLED (default: 5 with --canary stall, else the "
                         "server's own, 300); only for a server the harness starts")
    ch = ld.add_argument_group("chaos (kill9, pgkill, diskfull)")
    ch.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                    help="kill9: the server's database (postgres: a throwaway cluster of scripts/pg.sh on a port "
                         "in 54340-54349); pgkill is always postgres, diskfull always SQLite on a tmpfs")
    ch.add_argument("--outage", type=float, default=5.0,
                    help="pgkill: seconds PostgreSQL stays down; diskfull: seconds the filesystem stays full")
    ch.add_argument("--kill-after", type=float, default=0.3,
                    help="pgkill: seconds between the assignment and killing PostgreSQL")
    ch.add_argument("--kill9-delay", type=float, default=1.0,
                    help="kill9: seconds between every agent APPLIED and the SIGKILL (0: before the write-behind "
                         "may have stored the reports)")
    ch.add_argument("--tmpfs-mb", type=int, default=48, help="diskfull: size of the tmpfs holding the database")
    so = ld.add_argument_group("soak")
    so.add_argument("--churn", type=float, default=10.0, help="soak: %% of the agents dropped and reconnected per minute")
    so.add_argument("--push-every", type=float, default=2.0, help="soak: minutes between config pushes")
    so.add_argument("--sample-every", type=float, default=5.0, help="soak: seconds between kept RSS/p99 samples")
    add_server_options(ld)
    add_load_options(ld)

    su = sub.add_parser("suite", help="every scenario, Ampora and the C echo floor in one run, with ratios")
    mode = su.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="small sizes, about 6-10 minutes on 2 cores")
    mode.add_argument("--full", action="store_true", help="up to 100 000 agents, about 20 minutes")
    mode.add_argument("--smoke", action="store_true", help="300 agents per run: checks the suite itself, ~2 min")
    su.add_argument("--out-dir", help="result files, suite.json, summary.md, plot.svg "
                    "(default: Benchmarks/runs/suite-TIME, ignored by git)")
    add_server_options(su)
    add_load_options(su)

    pl = sub.add_parser("plot", help="SVG of memory per agent and p99 latency against agent count")
    pl.add_argument("results", nargs="+", help="result files of steady runs, or suite.json files")
    pl.add_argument("--out", default="plot.svg")
    pl.add_argument("--title", default="ampora-bench: steady heartbeats")
    pl.add_argument("--note", default="", help="a line of small print under the panels")
    return ap


def start_server(opts, scenario, agents, peer):
    if opts.target:
        if getattr(opts, "apply_timeout", None) is not None:
            raise BenchError("--apply-timeout is given to a server the harness starts: with --target, "
                             "start yours with --config-apply-timeout")
        check_loopback(opts.target)
        if opts.http:
            check_loopback(opts.http)
        if not opts.server_pid:
            sys.stderr.write("ampora-bench: no --server-pid: the server's RSS and CPU are not measured\n")
        external = Server(opts.target, opts.server_pid, opts.http, owned=False)
        external.admin_token = opts.token or os.environ.get("AMPORA_TOKEN")
        return external
    if peer == "floor":
        if scenario in ("push", "rollout"):
            raise BenchError("the echo floor has no operator API and pushes nothing: %s needs ampora" % scenario)
        srv = EchoFloor(rings=max(2, math.ceil(agents / 18000)))
    else:
        extra = list(opts.server_arg)
        timeout = scenarios.rollout_apply_timeout(opts) if scenario == "rollout" else None
        if timeout is not None:
            extra += ["--config-apply-timeout", str(timeout)]
        srv = AmporaServer(opts.ampora_bin, io=opts.io, loops=opts.loops, extra=extra,
                           database=getattr(opts, "chaos_database", None))
        srv.apply_timeout = timeout
    srv.start()
    return srv


def chaos_setup(opts, scenario, cleanups):
    """The database a chaos scenario breaks: a throwaway PostgreSQL (pgkill; kill9 with
    --database postgres) or a small tmpfs for SQLite (diskfull). `cleanups` gets what to undo,
    run in a finally by the caller whatever happens."""
    opts.chaos_database = opts.chaos_pg = opts.chaos_fs = opts.chaos_db_path = None
    if scenario == "pgkill" or (scenario == "kill9" and opts.database == "postgres"):
        pg = ThrowawayPostgres()
        cleanups.append(pg.stop)
        opts.chaos_database = pg.start()
        opts.chaos_pg = pg
    elif scenario == "diskfull":
        fs = SmallTmpfs(opts.tmpfs_mb)
        fs.mount()
        cleanups.append(fs.close)
        opts.chaos_fs = fs.path
        opts.chaos_db_path = os.path.join(fs.path, "ampora.db")
        opts.chaos_database = "sqlite:%s" % opts.chaos_db_path


def run_load(opts, scenario, peer, argv=None):
    """One scenario against one (started) server; returns (result, exit status)."""
    d = scenarios.DEFAULTS[scenario]
    agents = opts.agents or d["agents"]
    srv = None
    rc = 2
    cleanups = []
    try:
        if scenario in scenarios.CHAOS:
            chaos_setup(opts, scenario, cleanups)
        srv = start_server(opts, scenario, agents, peer)
        sys.stderr.write("ampora-bench: %s against %s %s (pid %s, io %s)\n"
                         % (scenario, srv.kind, srv.opamp, srv.pid, srv.io))
        result, rc = scenarios.run_scenario(scenario, srv, opts)
    finally:
        if srv is not None:
            srv.stop()
            if rc != 1:
                srv.remove_workdir()     # a run that failed its checks keeps the server's logs
            elif getattr(srv, "workdir", None):
                sys.stderr.write("ampora-bench: server logs kept in %s\n" % srv.workdir)
        for undo in reversed(cleanups):     # after the server stopped: nothing holds the mount
            try:
                undo()
            except Exception as e:
                sys.stderr.write("ampora-bench: cleanup %s failed: %s\n" % (undo, e))
    if scenario in scenarios.CHAOS:
        result["database"] = opts.database if scenario == "kill9" else ("postgres" if scenario == "pgkill" else "sqlite on tmpfs")
    result["peer"] = srv.kind
    result["server_info"] = srv.describe()
    result["machine"] = machine.describe()
    result["date"] = machine.now_utc()
    result["command"] = " ".join(argv or sys.argv)
    return result, rc


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def default_path(name):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return os.path.join(BENCH, "runs", "%s-%s" % (name, stamp))


def cmd_load(opts):
    opts.out = opts.out or default_path("%s-%s" % (opts.scenario, opts.peer)) + ".json"
    d = scenarios.DEFAULTS[opts.scenario]
    bound = (opts.duration or d["duration"]) + 180
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(bound))      # backstop: the whole command ends by itself
    build_loadgen()
    result, rc = run_load(opts, opts.scenario, opts.peer)
    signal.alarm(0)
    svg = result.pop("soak_svg", None)
    if svg:
        with open(opts.out[:-5] + ".svg" if opts.out.endswith(".json") else opts.out + ".svg", "w") as f:
            f.write(svg)
    write_json(opts.out, result)
    brief = dict(scenario=opts.scenario, peer=result["peer"], ok=result["ok"],
                 agents=result["agents_connected_max"], violations=result["violations"],
                 errors=result["errors"], **result.get("figures", {}))
    brief.pop("hashes_agents_saw", None)
    for key in ("pushes", "assignment", "final_facets", "final_assignment", "server_log_persistence_lines"):
        brief.pop(key, None)
    if "verdict" in result:
        brief["verdict"] = result["verdict"]
    sys.stderr.write("ampora-bench: %s -> %s\n" % (json.dumps(brief), opts.out))
    if result.get("scenario_error"):
        sys.stderr.write("ampora-bench: %s\n" % result["scenario_error"])
    return rc


def main(argv=None):
    opts = build_parser().parse_args(argv)
    try:
        if opts.command == "load":
            return cmd_load(opts)
        if opts.command == "suite":
            opts.out_dir = opts.out_dir or default_path("suite")
            return suite.run(opts, run_load)
        if opts.command == "plot":
            svgplot.plot_files(opts.results, opts.out, opts.title, opts.note)
            sys.stderr.write("ampora-bench: wrote %s\n" % opts.out)
            return 0
    except BenchError as e:
        sys.stderr.write("ampora-bench: %s\n" % e)
        return 2
    except Deadline:
        sys.stderr.write("ampora-bench: the run overran its time bound and was stopped\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 2
