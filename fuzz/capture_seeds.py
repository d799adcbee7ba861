#!/usr/bin/env python3
"""Captures real agent traffic as fuzzing seeds (fuzz/seeds/{opamp,ws,http}/capture-*).

Starts `ampora serve` on loopback with a config assigned to every agent, puts a recording proxy
in front of its agent port, and drives agents through it: the C load generator
(Benchmarks/loadgen/opamp-load) over WebSocket and over HTTP, and the reference Python OpAMP
client (PyPI `opentelemetry-opamp-client`) over HTTP. What the agents sent is then cut up as the
server reads it: each connection's byte stream (the HTTP target), the WebSocket frames after the
upgrade (the WebSocket target) and each OpAMP message (the decoder target).

    .venv/bin/python fuzz/capture_seeds.py [--bin-dir DIR]    # then commit fuzz/seeds/

Everything stays on 127.0.0.1 and stops within about a minute.
"""
import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKEN = "amp_capture_admin_token_0123456789abcdef"
CONFIG = b"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  batch:
exporters:
  debug:
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}
"""


class Recorder:
    """A TCP proxy that keeps every byte each client sent, per connection."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.streams = []

    async def handle(self, reader, writer):
        sent = bytearray()
        self.streams.append(sent)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src, dst, keep):
            try:
                while data := await src.read(65536):
                    if keep is not None:
                        keep.extend(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, sent), pump(up_reader, writer, None))


def api(port, method, path, body, content_type):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers={
        "Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def python_client(url):
    from opentelemetry._opamp.client import OpAMPClient
    from opentelemetry._opamp.proto import opamp_pb2
    client = OpAMPClient(endpoint=url, agent_identifying_attributes={"service.name": "capture"},
                         capabilities=opamp_pb2.AgentCapabilities_ReportsStatus
                         | opamp_pb2.AgentCapabilities_AcceptsRemoteConfig)
    client.send(client.build_full_state_message())
    client.send(client.build_heartbeat_message())
    client.send(client.build_agent_disconnect_message())


def ws_frames(data):
    """Unmasked payloads of the client's frames, and the frame bytes themselves."""
    frames, i = [], 0
    while i + 2 <= len(data):
        length, head = data[i + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[i + 2:i + 10], "big"), 10
        masked = data[i + 1] & 0x80
        mask = data[i + head:i + head + 4] if masked else b"\0\0\0\0"
        start = i + head + (4 if masked else 0)
        payload = bytes(b ^ mask[k % 4] for k, b in enumerate(data[start:start + length]))
        frames.append((data[i:start + length], data[i] & 0x0F, payload))
        i = start + length
    return frames


def http_bodies(data):
    bodies, i = [], 0
    while (end := data.find(b"\r\n\r\n", i)) >= 0:
        head = data[i:end].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        bodies.append(data[end + 4:end + 4 + length])
        i = end + 4 + length
    return bodies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", help="where `ampora` is (default: swift build --show-bin-path)")
    parser.add_argument("--out", default=str(ROOT / "fuzz/seeds"))
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.bin_dir or subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip())
    loadgen = ROOT / "Benchmarks/loadgen"
    subprocess.run(["make", "-s", "-C", str(loadgen)], check=True)

    work = tempfile.mkdtemp(prefix="ampora-capture-")
    (pathlib.Path(work) / "token").write_text(TOKEN + "\n")
    server = subprocess.Popen(
        [str(bin_dir / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--database", f"sqlite:{work}/ampora.db", "--admin-token-file", f"{work}/token"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        fields = dict(kv.split("=", 1) for kv in server.stdout.readline().split()[2:])
        opamp_port = int(fields["opamp"].rsplit(":", 1)[1])
        http_port = int(fields["http"].rsplit(":", 1)[1])
        api(http_port, "PUT", "/api/v1/configs/capture", CONFIG, "text/yaml")
        api(http_port, "POST", "/api/v1/assignments", json.dumps({"config": "capture", "selector": {}}).encode(),
            "application/json")
        recorder = Recorder(opamp_port)

        async def drive():
            proxy = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
            port = proxy.sockets[0].getsockname()[1]
            for transport in ("ws", "http"):
                load = await asyncio.create_subprocess_exec(
                    str(loadgen / "opamp-load"), "--target", f"127.0.0.1:{port}", "--agents", "6",
                    "--heartbeat", "1", "--duration", "5", "--rate", "50", "--transport", transport,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                await asyncio.wait_for(load.wait(), 60)
            await asyncio.to_thread(python_client, f"http://127.0.0.1:{port}/v1/opamp")
            await asyncio.sleep(0.5)
            proxy.close()

        asyncio.run(drive())
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)

    seeds = {"opamp": set(), "ws": set(), "http": set()}
    for stream in map(bytes, recorder.streams):
        if not stream:
            continue
        if stream.startswith(b"GET"):
            end = stream.find(b"\r\n\r\n") + 4
            seeds["http"].add(stream[:end])
            frames = ws_frames(stream[end:])
            # The upgrade's first frames, and longer runs of them (full state, heartbeats, status).
            for count in (1, 2, 5, 20):
                seeds["ws"].add(b"".join(frame for frame, _, _ in frames[:count]))
            seeds["opamp"].update(payload for _, opcode, payload in frames if opcode == 2)
        else:
            ends = [i + 4 for i in range(len(stream)) if stream.startswith(b"\r\n\r\n", i)]
            bodies = http_bodies(stream)
            # One request, then keep-alive runs of two and five (head and body each).
            cut = 0
            for index, (end, body) in enumerate(zip(ends, bodies)):
                cut = end + len(body)
                if index in (0, 1, 4):
                    seeds["http"].add(stream[:cut])
            seeds["opamp"].update(b for b in bodies if b)
    for kind, items in seeds.items():
        directory = pathlib.Path(args.out) / kind
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("capture-*"):
            old.unlink()
        # Distinct sizes say distinct shapes (full state, heartbeat, status after a config): one
        # of each keeps the corpus small.
        by_size = {}
        for item in sorted(items):
            if item:
                by_size.setdefault(len(item), item)
        kept = list(by_size.values())[:40]
        for item in kept:
            (directory / f"capture-{hashlib.sha1(item).hexdigest()[:12]}").write_bytes(item)
        print(f"capture: {len(kept)} {kind} seeds of distinct sizes ({len(items)} distinct captures)")


if __name__ == "__main__":
    sys.exit(main())
