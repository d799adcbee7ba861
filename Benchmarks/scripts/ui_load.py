#!/usr/bin/env python3
"""Times web UI pages in a real browser: Debian's chromium driven by Playwright (the project's
test environment, .venv), against a running `ampora serve`. For each page, `--rounds` fresh
navigations; prints one JSON object: per page the load event's time from the navigation's start
(p50, max), and the server's own time for the HTML (its Server-Timing header).

  .venv/bin/python Benchmarks/scripts/ui_load.py --base http://127.0.0.1:8080 --token amp_… [--rounds 10]
"""
import argparse
import json
import re
import shutil
import sys

from playwright.sync_api import sync_playwright

PAGES = [("overview", "/"), ("agents", "/agents")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the operator API's base URL (loopback)")
    parser.add_argument("--token", required=True, help="a viewer token or stronger")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    opts = parser.parse_args()
    if not re.match(r"^http://127\.\d+\.\d+\.\d+:\d+$", opts.base):
        sys.exit("ui_load: --base must be a loopback http://127.x.y.z:PORT address")
    if not opts.chromium:
        sys.exit("ui_load: chromium is not installed (scripts/bootstrap.sh --test installs it)")
    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=opts.chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        for label, path in PAGES:
            loads, server = [], []
            for _ in range(opts.rounds):
                # A new context per round: no cache, as a first visit.
                context = browser.new_context(extra_http_headers={"Authorization": "Bearer " + opts.token})
                page = context.new_page()
                response = page.goto(opts.base + path, wait_until="load", timeout=60_000)
                if response is None or response.status != 200:
                    sys.exit("ui_load: %s answered %s" % (path, response and response.status))
                timing = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return {load: n.loadEventEnd - n.startTime}; }")
                loads.append(timing["load"])
                match = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
                if match:
                    server.append(float(match.group(1)))
                context.close()
            loads.sort()
            server.sort()
            out[label] = {
                "path": path, "rounds": len(loads), "load_p50_ms": round(loads[len(loads) // 2], 1),
                "load_max_ms": round(loads[-1], 1),
                "server_p50_ms": round(server[len(server) // 2], 1) if server else None,
                "server_max_ms": round(server[-1], 1) if server else None}
        browser.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
