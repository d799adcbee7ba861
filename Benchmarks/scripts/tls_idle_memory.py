#!/usr/bin/env python3
"""Server memory per idle agent, plain WebSocket against TLS and mutual TLS, in one run.

    .venv/bin/python Benchmarks/scripts/tls_idle_memory.py .build/release [AGENTS]

For each mode starts `ampora serve` from the given bin directory on loopback (io_uring, one
loop, SQLite in a temporary directory), opens AGENTS (default 5000) WebSocket connections
from Python's asyncio (the upgrade done, then idle), and prints the server's RSS growth per
connection (VmRSS from /proc after the connections settled, minus before) and the server CPU
the handshakes cost. The test certificates of Tests/GatewayTests/Fixtures/tls are used.
Python's TLS client is far slower than the server, so this measures memory, not handshake rate.
"""
import asyncio
import os
import pathlib
import ssl
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "scripts"))
if len(sys.argv) not in (2, 3):
    sys.exit(__doc__)
os.environ["AMPORA_BIN_DIR"] = str(pathlib.Path(sys.argv[1]).resolve())
AGENTS = int(sys.argv[2]) if len(sys.argv) == 3 else 5000

from test_gateway import Server  # noqa: E402

TLS = ROOT / "Tests/GatewayTests/Fixtures/tls"
UPGRADE = (b"GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connect_all(port, ctx):
    conns = []
    sem = asyncio.Semaphore(200)

    async def one():
        async with sem:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost" if ctx else None)
            writer.write(UPGRADE)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            conns.append(writer)

    await asyncio.gather(*(one() for _ in range(AGENTS)))
    return conns


def measure(name, args, ctx):
    server = Server("--io", "uring", "--loops", "1", "--idle-timeout", "600", *args)
    try:
        time.sleep(1)
        before, cpu_before = rss_kb(server.proc.pid), cpu_s(server.proc.pid)

        async def go():
            conns = await connect_all(server.opamp_port, ctx)
            await asyncio.sleep(3)
            after = rss_kb(server.proc.pid)
            cpu = cpu_s(server.proc.pid) - cpu_before
            for w in conns:
                w.close()
            return after, cpu

        after, cpu = asyncio.run(go())
        per = (after - before) * 1024 / AGENTS
        print(f"{name:12} {AGENTS} agents: RSS +{after - before} KiB = {per / 1024:.1f} KiB per idle agent; "
              f"server CPU {cpu:.2f} s = {cpu / AGENTS * 1e6:.0f} µs per connection (handshake + upgrade)")
    finally:
        server.stop()


def main():
    tls = ["--tls-cert", str(TLS / "server.pem"), "--tls-key", str(TLS / "server.key")]
    plain_ctx = None
    tls_ctx = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
    mtls_ctx = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
    mtls_ctx.load_cert_chain(str(TLS / "client.pem"), str(TLS / "client.key"))
    measure("plain", [], plain_ctx)
    measure("tls", tls, tls_ctx)
    measure("mutual tls", tls + ["--tls-client-ca", str(TLS / "ca.pem"), "--tls-client-auth", "require"], mtls_ctx)


main()
