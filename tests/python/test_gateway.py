"""The real `ampora serve` binary on loopback, driven by real OpAMP clients.

WebSocket agents are simulated with `websockets` and the reference `opamp_pb2` classes; the
plain-HTTP agent is the PyPI `opentelemetry-opamp-client` itself.
"""
import asyncio
import gzip
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from opentelemetry._opamp.client import OpAMPClient
from opentelemetry._opamp.proto import opamp_pb2

import opamp_ref
from conftest import admin_token_file, bin_dir

A = opamp_ref.agent_to_server_class()
S = opamp_ref.server_to_agent_class()
CAPS = 0x1 | 0x2 | 0x4 | 0x1000  # status, remote config, effective config, reports remote config


class Server:
    def __init__(self, *args, dbdir=None, admin_token=True):
        # Each server its own database: the default ./ampora.db would land in the checkout and
        # carry agents from one test (and one run) into the next.
        self.dbdir = dbdir or tempfile.mkdtemp(prefix="ampora-gw-")
        given = "--admin-token-file" in args or not admin_token
        token = [] if given else ["--admin-token-file", admin_token_file(self.dbdir)]
        self.proc = subprocess.Popen(
            [str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
             "--loops", "2", "--database", f"sqlite:{self.dbdir}/ampora.db", *token, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ampora ready "), (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        fields = dict(kv.split("=", 1) for kv in line.split()[2:])
        self.opamp_port = int(fields["opamp"].rsplit(":", 1)[1])
        self.http_port = int(fields["http"].rsplit(":", 1)[1])
        self.io = fields["io"]
        self.ready_line = line
        self.ws_url = f"ws://127.0.0.1:{self.opamp_port}/v1/opamp"
        self.http_url = f"http://127.0.0.1:{self.opamp_port}/v1/opamp"

    def metrics(self):
        time.sleep(0.4)  # loops publish their counters on each 250 ms tick
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                # Say where it hung: the server logs each stage of its shutdown.
                print("server did not stop within 15 s; its log:\n" + self.proc.stderr.read()[-4000:])
        shutil.rmtree(self.dbdir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture(params=["uring", "epoll"])
def server(request):
    s = Server("--io", request.param, "--idle-timeout", "3", "--header-timeout", "2", "--max-message-bytes", "65536")
    assert s.io == request.param
    yield s
    assert s.stop() == 0, "the server exits 0 on SIGTERM"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def msg(uid, seq, caps=CAPS, full=False, flags=0):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=caps, flags=flags)
    if full:
        m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "otelcol"
        m.effective_config.config_map.config_map[""].body = b"receivers: {}\n"
        m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_UNSET
    return b"\x00" + m.SerializeToString()


async def exchange(ws, data):
    await ws.send(data)
    raw = await ws.recv()
    assert isinstance(raw, bytes) and raw[0] == 0, "OpAMP replies are binary with a 0 header"
    reply = S()
    reply.ParseFromString(raw[1:])
    return reply


def test_ready_line_and_engine(server):
    assert server.io in ("uring", "epoll")
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/healthz", timeout=5) as r:
        assert r.status == 200


def test_websocket_session_rules(server):
    uid = os.urandom(16)

    async def go():
        async with websockets.connect(server.ws_url) as ws:
            first = await exchange(ws, msg(uid, 0, full=True))
            assert first.instance_uid == uid
            assert first.capabilities & 0x1, "first reply carries capabilities with AcceptsStatus"
            second = await exchange(ws, msg(uid, 1))
            assert second.instance_uid == uid and second.capabilities == 0
            gap = await exchange(ws, msg(uid, 7))
            assert gap.flags & 0x1, "a sequence gap asks for ReportFullState"
            fresh = await exchange(ws, msg(uid, 8, full=True, flags=0x1))
            assert len(fresh.agent_identification.new_instance_uid) == 16
            assert fresh.agent_identification.new_instance_uid[6] >> 4 == 7, "UUIDv7"
            assert fresh.instance_uid == uid
            bad = await exchange(ws, b"\x00\x0a\xff\xff")
            assert bad.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
            assert bad.error_response.error_message
            # The connection survives a malformed message.
            again = await exchange(ws, msg(uid, 9))
            assert again.instance_uid == uid

    run(go())


def test_websocket_ping_pong_and_clean_close(server):
    async def go():
        async with websockets.connect(server.ws_url) as ws:
            pong = await ws.ping(b"hello")
            await asyncio.wait_for(pong, 5)
            await ws.close(code=1000, reason="bye")
            assert ws.close_code == 1000

    run(go())


def test_oversize_message_closes_with_1009(server):
    async def go():
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await ws.send(b"\x00" + b"\x0a" + b"\x80\x80\x04" + b"x" * 70000)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1009

    run(go())


def test_text_frames_are_refused_with_1003(server):
    async def go():
        async with websockets.connect(server.ws_url) as ws:
            await ws.send("not binary")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1003

    run(go())


def test_abrupt_disconnect_is_cleaned_up(server):
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", server.opamp_port))
        s.sendall(b"GET /v1/opamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert b"101" in s.recv(4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST, no close frame
    deadline = time.time() + 5
    while time.time() < deadline and server.metrics()["ampora_agent_connections"] != 0:
        pass
    assert server.metrics()["ampora_agent_connections"] == 0


def test_slowloris_headers_are_refused(server):
    s = socket.create_connection(("127.0.0.1", server.opamp_port))
    s.sendall(b"GET /v1/opamp HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.settimeout(10)
    started = time.time()
    data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert time.time() - started < 6
    s.close()


def test_half_open_websocket_is_closed_by_idle_timeout(server):
    async def go():
        async with websockets.connect(server.ws_url, ping_interval=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1001

    run(go())


def test_idle_timeout_spares_an_agent_that_talks(server):
    # The idle deadline moves with traffic: an agent heartbeating every second outlives the
    # 3 s timeout several times over, while a silent one beside it is closed.
    async def go():
        uid = os.urandom(16)
        async with websockets.connect(server.ws_url, ping_interval=None) as talker, \
                websockets.connect(server.ws_url, ping_interval=None) as silent:
            await exchange(talker, msg(uid, 0, full=True))
            for seq in range(1, 8):
                await asyncio.sleep(1)
                reply = await exchange(talker, msg(uid, seq))
                assert reply.instance_uid == uid
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(silent.recv(), 1)
            assert closed.value.rcvd.code == 1001

    run(go())


def test_http_transport_with_the_reference_client(server):
    client = OpAMPClient(
        endpoint=server.http_url,
        agent_identifying_attributes={"service.name": "python-agent"},
        capabilities=opamp_pb2.AgentCapabilities_ReportsStatus | opamp_pb2.AgentCapabilities_AcceptsRemoteConfig,
    )
    first = client.send(client.build_full_state_message())
    assert first.instance_uid == client._instance_uid
    assert first.capabilities & 0x1
    beat = client.send(client.build_heartbeat_message())
    assert beat.instance_uid == client._instance_uid
    assert not beat.flags & 0x1, "in-order heartbeat over HTTP needs no full state"
    bye = client.send(client.build_agent_disconnect_message())
    assert bye.instance_uid == client._instance_uid


def post(server, body, headers=None):
    req = urllib.request.Request(server.http_url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-protobuf", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_http_gzip_both_ways(server):
    uid = os.urandom(16)
    body = gzip.compress(msg(uid, 0, full=True)[1:])
    status, headers, data = post(server, body, {"Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    assert status == 200
    if headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    reply = S()
    reply.ParseFromString(data)
    assert reply.instance_uid == uid


def test_http_oversize_body_is_413(server):
    status, _, _ = post(server, b"\x0a" * 70000)
    assert status == 413


def test_http_wrong_content_type_is_415(server):
    req = urllib.request.Request(server.http_url, data=b"x", method="POST", headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 415


@pytest.mark.parametrize("engine", ["uring", "epoll"])
def test_sigterm_closes_agents_with_1001_and_exits_0(engine):
    server = Server("--io", engine)

    async def go():
        async with websockets.connect(server.ws_url) as ws:
            await exchange(ws, msg(os.urandom(16), 0, full=True))
            server.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1001

    try:
        run(go())
        assert server.proc.wait(timeout=15) == 0
    finally:
        server.stop()
