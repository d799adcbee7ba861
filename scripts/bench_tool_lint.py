#!/usr/bin/env python3
"""Times `ampora-tool lint` over the Collector config corpus (release build), for BENCHMARKS.md.

Whole corpus: one process lints all 138 files (`lint --format json DIR`), repeated, min and median
wall time. Per file: each file linted in its own process, best of a few runs, minus the median
cost of a process that lints a 3-line config (start-up, registry, argument parsing), which leaves
what one file costs. Two shared vCPUs: expect ±30 %; compare figures from one run.
    swift build -c release --product ampora-tool && python3 scripts/bench_tool_lint.py
AMPORA_BIN_DIR names another release build's bin directory (a --scratch-path build).
"""
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "Tests" / "ToolkitTests" / "Fixtures" / "corpus"


def wall(cmd, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main():
    bin_dir = os.environ.get("AMPORA_BIN_DIR") or subprocess.run(
        ["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()
    tool = pathlib.Path(bin_dir) / "ampora-tool"
    if not tool.exists():
        sys.exit(f"{tool} missing: swift build -c release --product ampora-tool")
    files = sorted(CORPUS.glob("*.yaml"))
    whole = wall([str(tool), "lint", "--format", "json", str(CORPUS)], 10)
    print(f"whole corpus ({len(files)} files, one process): min {min(whole) * 1000:.0f} ms, "
          f"median {statistics.median(whole) * 1000:.0f} ms")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tiny:
        tiny.write("receivers: {otlp: {protocols: {grpc: }}}\nexporters: {debug: }\n"
                   "service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n")
    baseline = statistics.median(wall([str(tool), "lint", "--format", "json", tiny.name], 30))
    print(f"process baseline (3-line config): median {baseline * 1000:.1f} ms")
    per_file = []
    for path in files:
        best = min(wall([str(tool), "lint", "--format", "json", str(path)], 3))
        per_file.append((max(best - baseline, 0.0), path.stat().st_size, path.name))
    costs = sorted(c for c, _, _ in per_file)
    p = lambda q: costs[min(len(costs) - 1, int(q * len(costs)))] * 1000
    largest = max(per_file, key=lambda row: row[1])
    slowest = max(per_file)
    print(f"per file above baseline: p50 {p(0.50):.1f} ms, p95 {p(0.95):.1f} ms, max {slowest[0] * 1000:.1f} ms "
          f"({slowest[2]}, {slowest[1]} bytes)")
    print(f"largest file: {largest[2]} ({largest[1]} bytes): {largest[0] * 1000:.1f} ms above baseline")


if __name__ == "__main__":
    main()
