#!/usr/bin/env python3
"""Samples the machine's CPU split (/proc/stat: user, nice, system, idle, iowait, softirq,
steal) and the CPU ticks of every thread of the running `ampora serve`, every 0.25 s, with
CLOCK_MONOTONIC times (the clock of ampora-bench's "slowest" request times), until killed.

    .venv/bin/python Benchmarks/scripts/cpu_sampler.py OUT.txt &      # then run the scenario
    .venv/bin/python Benchmarks/scripts/cpu_sampler.py --summary OUT.txt --t0 T [--every 5]

Each line: time, the eight /proc/stat counters, then name:tid=ticks per server thread. The
summary prints the split per interval around T (e.g. when every agent was connected), which
tells a saturated machine (no idle time) from periodic work in the server.
"""
import argparse
import glob
import os
import sys
import time


def server_pid():
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(path, "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/ampora") and len(argv) > 1 and argv[1] == b"serve":
            return path.split("/")[2]
    return None


def sample(out):
    pid = None
    while True:
        t = time.monotonic()
        if pid is None or not os.path.exists("/proc/%s" % pid):
            pid = server_pid()
        cpu = open("/proc/stat").readline().split()[1:9]
        threads = {}
        for task in glob.glob("/proc/%s/task/*" % pid) if pid else []:
            try:
                stat = open(task + "/stat").read()
                name = stat[stat.index("(") + 1:stat.rindex(")")].replace(" ", "_")
                fields = stat[stat.rindex(")") + 2:].split()
                threads["%s:%s" % (name, task.split("/")[-1])] = int(fields[11]) + int(fields[12])
            except (OSError, ValueError):
                pass
        out.write("%.3f %s %s\n" % (t, " ".join(cpu), " ".join("%s=%d" % kv for kv in sorted(threads.items()))))
        out.flush()
        time.sleep(0.25)


def summary(path, t0, every):
    rows = []
    for line in open(path):
        parts = line.split()
        rows.append((float(parts[0]), [int(x) for x in parts[1:9]],
                     sum(int(kv.rsplit("=", 1)[1]) for kv in parts[9:])))
    buckets = {}
    for (t, cpu, ticks), (_, before, ticks_before) in zip(rows[1:], rows):
        acc = buckets.setdefault(int((t - t0) // every) * every, [0] * 9)
        for i in range(8):
            acc[i] += cpu[i] - before[i]
        acc[8] += max(0, ticks - ticks_before)
    print("  t(s)  user  nice system  idle iowait softirq steal | server CPU (s)")
    for k in sorted(buckets):
        a = buckets[k]
        total = sum(a[:8]) or 1
        print("%6d %5d %5d %6d %5d %6d %7d %5d | %.2f" % (
            k, *[100 * a[i] // total for i in (0, 1, 2, 3, 4, 6, 7)], a[8] / os.sysconf("SC_CLK_TCK")))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--summary", action="store_true", help="print the split per interval of FILE")
    ap.add_argument("--t0", type=float, default=0.0, help="with --summary: time 0 (CLOCK_MONOTONIC seconds)")
    ap.add_argument("--every", type=float, default=5.0, help="with --summary: seconds per interval")
    args = ap.parse_args()
    if args.summary:
        summary(args.file, args.t0, args.every)
    else:
        with open(args.file, "w") as out:
            sample(out)
