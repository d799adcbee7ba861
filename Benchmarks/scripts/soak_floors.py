#!/usr/bin/env python3
"""Reads an `ampora-bench load --scenario soak` result and prints what BENCHMARKS.md quotes from
it: the server's RSS floor between pushes (lowest sample from `--settle` seconds after a push to
the next), SQLite's heap at the same moments, and the heartbeat p99 outside the push minutes.

    Benchmarks/scripts/soak_floors.py Benchmarks/results/chaos/soak-100k-30min.json
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", help="the soak's --out JSON")
    ap.add_argument("--settle", type=float, default=90, help="seconds after a push left out (default 90)")
    opts = ap.parse_args()
    result = json.load(open(opts.result))
    series = result["soak_series"]
    pushes = [p["t"] for p in result["figures"]["pushes"]]
    bounds = [0.0] + pushes + [float("inf")]
    for i in range(len(bounds) - 1):
        lo = bounds[i] + (opts.settle if i else 0)
        rows = [x for x in series if lo <= x["t"] < bounds[i + 1] and x.get("rss_kb")]
        if not rows:
            continue
        low = min(rows, key=lambda x: x["rss_kb"])
        heap = low.get("sqlite_heap_kb")
        print("after push %d: RSS floor %.0f MB at t=%.0f s, SQLite heap %s" % (
            i, low["rss_kb"] / 1024, low["t"], "%.1f MB" % (heap / 1024) if heap is not None else "not sampled"))
    quiet = sorted(x["p99_us_max_worker"] for x in series if x.get("p99_us_max_worker") and x["t"] > 60
                   and not any(0 <= x["t"] - p < opts.settle for p in pushes))
    if quiet:
        print("heartbeat p99 outside the push minutes: median %.1f ms, p90 %.1f ms, max %.1f ms" % (
            quiet[len(quiet) // 2] / 1000, quiet[int(len(quiet) * 0.9)] / 1000, quiet[-1] / 1000))


if __name__ == "__main__":
    main()
