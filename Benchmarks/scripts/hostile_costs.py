#!/usr/bin/env python3
"""What the hostile inputs of tests/python/test_hostile.py cost a server build, as figures.

    .venv/bin/python Benchmarks/scripts/hostile_costs.py .build/release

Starts `ampora serve` from the given bin directory on loopback (SQLite in a temporary
directory) for each case and prints one line per case: server CPU from /proc, wall time, RSS.
The test file asserts bounds on the debug build; this script gives the numbers recorded in
BENCHMARKS.md for a release build.
"""
import http.client
import os
import pathlib
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "scripts"))
if len(sys.argv) != 2:
    sys.exit(__doc__)
os.environ["AMPORA_BIN_DIR"] = str(pathlib.Path(sys.argv[1]).resolve())

import test_hostile as th  # noqa: E402
from test_fleet import api, wait_for  # noqa: E402
from test_gateway import Server  # noqa: E402


def measure(server, body):
    cpu, started = th.cpu_seconds(server.proc.pid), time.monotonic()
    result = body()
    return result, th.cpu_seconds(server.proc.pid) - cpu, time.monotonic() - started


def main():
    server = Server()
    try:
        m = th.A(instance_uid=uuid.uuid4().bytes, sequence_num=1, capabilities=th.CAPS)
        m.effective_config.config_map.config_map[""].body = os.urandom(33 << 20)
        conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=60)
        (status, _), cpu, wall = measure(server, lambda: th.post(conn, m.SerializeToString()))
        print(f"33 MB plain-HTTP body: status {status}, server CPU {cpu:.2f} s, wall {wall:.2f} s")
    finally:
        server.stop()

    server = Server("--max-attributes", "50000")
    try:
        uid = uuid.uuid4().bytes
        conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=60)
        path = f"/api/v1/agents/{uuid.UUID(bytes=uid)}"
        _, _, wall = measure(server, lambda: (th.post(conn, th.described(uid, 40_000)),
                                              wait_for(lambda: api(server, "GET", path)[0] == 200, timeout=30)))
        print(f"40 000 distinct attribute keys: visible in the API after {wall:.2f} s")
    finally:
        server.stop()

    server = Server()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=60)
        big = uuid.uuid4().bytes
        th.post(conn, th.described(big, 1000, value="x" * 30_000))
        path = f"/api/v1/agents/{uuid.UUID(bytes=big)}"
        wait_for(lambda: api(server, "GET", path)[0] == 200)
        rss = th.rss_bytes(server.proc.pid)
        _, cpu, _ = measure(server, lambda: api(server, "GET", path))
        grown = (th.rss_bytes(server.proc.pid) - rss) >> 20
        print(f"agent detail of 1 000 attributes of 30 KB: server CPU {cpu:.2f} s, RSS +{grown} MB")
        (_, reply), _, wall = measure(server, lambda: th.post(conn, th.described(uuid.uuid4().bytes, 200_000)))
        print(f"200 000 attributes: answered in {wall:.2f} s: {reply.error_response.error_message}")
    finally:
        server.stop()


main()
