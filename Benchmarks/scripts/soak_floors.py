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
    # The trend over the second half (least squares, MB per hour), of RSS and of RSS less
    # SQLite's heap (its page cache grows with the database up to the size the store sets).
    end = max(x["t"] for x in series)
    half = [x for x in series if x["t"] >= end / 2 and x.get("rss_kb")]
    for name, value in (("RSS", lambda x: x["rss_kb"]),
                        ("RSS less SQLite's heap", lambda x: x["rss_kb"] - x.get("sqlite_heap_kb", 0))):
        if len(half) < 2 or (name != "RSS" and not all("sqlite_heap_kb" in x for x in half)):
            continue
        mt = sum(x["t"] for x in half) / len(half)
        mv = sum(value(x) for x in half) / len(half)
        slope = sum((x["t"] - mt) * (value(x) - mv) for x in half) / sum((x["t"] - mt) ** 2 for x in half)
        print("%s over the second half (t >= %.0f s): %.0f to %.0f MB, trend %.1f MB per hour" % (
            name, end / 2, value(half[0]) / 1024, value(half[-1]) / 1024, slope * 3600 / 1024))


if __name__ == "__main__":
    main()
