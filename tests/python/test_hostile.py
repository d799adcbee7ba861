"""One hostile client against the real `ampora serve`: each defect it could trigger, with the
bound the fix guarantees. Inputs are scaled to what CI affords; time is the server's CPU time
from /proc where the claim is about work, a monotonic clock only for "does not take 20 s".
"""
import asyncio
import gzip
import http.client
import os
import socket
import threading
import time
import urllib.request
import uuid

import pytest
import websockets

from opentelemetry._opamp.proto import opamp_pb2

from conftest import ADMIN_TOKEN
from test_fleet import api, metrics, wait_for
from test_gateway import A, S, Server, exchange

CAPS = 0x1 | 0x2 | 0x4 | 0x1000
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def published(server):
    """The metrics once the loops published their counters (each 250 ms tick)."""
    time.sleep(0.4)
    return metrics(server)


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def described(uid, attributes, value="v", seq=1):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=CAPS)
    for i in range(attributes):
        m.agent_description.non_identifying_attributes.add(key=f"k{i}").value.string_value = value
    return m


def post(conn, message, headers=None):
    """One OpAMP poll on a keep-alive http.client connection; returns (status, ServerToAgent)."""
    body = message if isinstance(message, bytes) else message.SerializeToString()
    conn.request("POST", "/v1/opamp", body=body,
                 headers={"Content-Type": "application/x-protobuf", **(headers or {})})
    r = conn.getresponse()
    raw = r.read()
    reply = S()
    if r.status == 200:
        reply.ParseFromString(raw)
    return r.status, reply


@pytest.fixture
def stop_after():
    servers = []
    yield servers.append
    for s in servers:
        assert s.stop() == 0, "the server exits 0 on SIGTERM"


def test_a_33_mb_plain_http_body_costs_seconds_not_minutes(stop_after):
    server = Server()
    stop_after(server)
    uid = uuid.uuid4().bytes
    m = A(instance_uid=uid, sequence_num=1, capabilities=CAPS)
    m.effective_config.config_map.config_map[""].body = os.urandom(33 << 20)
    body = m.SerializeToString()
    before = cpu_seconds(server.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=60)
    status, reply = post(conn, body)
    used = cpu_seconds(server.proc.pid) - before
    assert status == 200 and reply.instance_uid == uid
    # Quadratic copying cost ~30 s of CPU (and ended in 408); reading in place is linear.
    assert used < 3, f"the server spent {used:.1f} s of CPU on one 33 MB body"


def test_forty_thousand_attribute_keys_are_ingested_while_the_api_answers(stop_after):
    server = Server("--max-attributes", "50000")
    stop_after(server)
    uid = uuid.uuid4().bytes
    m = described(uid, 40_000)
    failures = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/healthz", timeout=2) as r:
                    assert r.status == 200
            except Exception as e:  # noqa: BLE001 - any failure to answer counts
                failures.append(repr(e))
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=30)
        status, reply = post(conn, m)
        assert status == 200 and not reply.HasField("error_response")
        path = f"/api/v1/agents/{uuid.UUID(bytes=uid)}"
        agent = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(api(server, "GET", path)),
                         timeout=15, what="the agent in the API")
        assert len(agent["attributes"]) == 40_000
        # A bound loose enough for a busy machine (1.5 s on a quiet one, BENCHMARKS.md); before
        # the fix this took about 20 s and the API froze meanwhile, which the probe checks.
        assert time.monotonic() - started < 15
    finally:
        done.set()
        prober.join()
    assert not failures, f"/healthz failed while ingesting: {failures[:3]}"


def test_a_description_over_the_cap_is_refused_and_a_huge_one_is_shown_bounded(stop_after):
    server = Server()
    stop_after(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=60)
    flood = uuid.uuid4().bytes
    status, reply = post(conn, described(flood, 200_000))
    assert status == 200
    assert reply.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
    assert "1000 attributes" in reply.error_response.error_message
    assert api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=flood)}")[0] == 404
    assert published(server)['ampora_opamp_messages_rejected_total{reason="too_many_attributes"}'] == 1

    # Within the cap but 30 MB of values: stored whole, shown as a bounded prefix.
    big = uuid.uuid4().bytes
    status, reply = post(conn, described(big, 1000, value="x" * 30_000))
    assert status == 200 and not reply.HasField("error_response")
    path = f"/api/v1/agents/{uuid.UUID(bytes=big)}"
    wait_for(lambda: api(server, "GET", path)[0] == 200, what="the agent in the API")
    cpu, rss = cpu_seconds(server.proc.pid), rss_bytes(server.proc.pid)
    status, agent = api(server, "GET", path)
    used, grown = cpu_seconds(server.proc.pid) - cpu, rss_bytes(server.proc.pid) - rss
    assert status == 200 and agent["descriptionTruncated"] is True
    assert len(agent["description"]["nonIdentifyingAttributes"]) == 1000
    assert used < 2, f"{used:.1f} s of CPU for one agent document"
    assert grown < 300 << 20, f"RSS grew {grown >> 20} MB for one agent document"
    # The listing shows the same bounded attribute values.
    status, page = api(server, "GET", "/api/v1/agents")
    assert status == 200
    assert max(len(v) for item in page["items"] for v in item["attributes"].values()) <= 4097


def test_an_idle_operator_connection_is_closed_within_a_minute(stop_after):
    server = Server()  # the default --http-idle-timeout (30 s)
    stop_after(server)
    silent = socket.create_connection(("127.0.0.1", server.http_port))
    half = socket.create_connection(("127.0.0.1", server.http_port))
    half.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    started = time.monotonic()
    for s in (silent, half):
        s.settimeout(60)
        while s.recv(4096):  # a 408 or a plain close: either way the connection ends
            pass
        s.close()
    assert time.monotonic() - started < 60


def test_the_operator_listener_caps_its_connections(stop_after):
    server = Server("--http-max-connections", "20", "--http-idle-timeout", "3")
    stop_after(server)
    held = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(40)]
    # Over the cap, new connections wait in the backlog; the idle ones are closed after 3 s,
    # and then the operator gets in.
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/healthz", timeout=20) as r:
        assert r.status == 200
    for s in held:
        s.close()


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_crlf_tricklers_do_not_lock_out_a_new_agent(io, stop_after):
    # A long header timeout, so only shedding the oldest half-open connections can let the
    # agent in: 4 100 connections fill both loops' caps (2 × 2 000).
    server = Server("--io", io, "--header-timeout", "120")
    stop_after(server)
    tricklers = []
    for _ in range(4100):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", server.opamp_port))
        tricklers.append(s)
    time.sleep(1)
    for s in tricklers:
        try:
            s.send(b"\r\n")
        except OSError:
            pass

    async def agent():
        ws = await asyncio.wait_for(websockets.connect(server.ws_url, open_timeout=10), 10)
        uid = uuid.uuid4().bytes
        m = A(instance_uid=uid, sequence_num=1, capabilities=CAPS)
        reply = await exchange(ws, b"\x00" + m.SerializeToString())
        await ws.close()
        return reply.instance_uid == uid

    assert asyncio.run(asyncio.wait_for(agent(), 15)), "a new agent got in while 4 100 connections trickled CRLF"
    assert published(server)["ampora_half_open_connections_shed_total"] > 0
    for s in tricklers:
        s.close()


def test_a_plain_http_agent_that_stops_polling_is_marked_disconnected(stop_after):
    server = Server("--http-agent-timeout", "2")
    stop_after(server)
    uid = uuid.uuid4().bytes
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=10)
    assert post(conn, described(uid, 1))[0] == 200
    conn.close()
    path = f"/api/v1/agents/{uuid.UUID(bytes=uid)}"
    assert wait_for(lambda: api(server, "GET", path)[1].get("connected") is True, what="the agent connected")
    agent = wait_for(lambda: (lambda a: a if a.get("connected") is False else None)(api(server, "GET", path)[1]),
                     timeout=15, what="the agent marked disconnected")
    assert agent["history"][0]["kind"] == "disconnected"
    m = published(server)
    assert m["ampora_fleet_agents_connected"] == 0
    assert m["ampora_http_agents_expired_total"] == 1


def test_one_connection_cannot_grow_the_inventory_without_bound(stop_after):
    server = Server("--registration-rate", "50", "--max-agents", "1500")
    stop_after(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=10)
    started = time.monotonic()
    outcomes = [post(conn, A(instance_uid=uuid.uuid4().bytes, sequence_num=1, capabilities=CAPS))[1]
                for _ in range(1300)]
    elapsed = time.monotonic() - started
    refused = [r for r in outcomes if r.error_response.type == opamp_pb2.ServerErrorResponseType_Unavailable]
    admitted = len(outcomes) - len(refused)
    assert 1000 <= admitted <= 1000 + 50 * elapsed + 50, (admitted, elapsed)
    assert refused and refused[0].error_response.retry_info.retry_after_nanoseconds > 0
    # Fan-in still works: an agent already admitted keeps being served on the same connection.
    first = outcomes[0].instance_uid
    assert not post(conn, A(instance_uid=first, sequence_num=2, capabilities=CAPS))[1].HasField("error_response")
    wait_for(lambda: api(server, "GET", "/api/v1/agents?limit=1")[1]["total"] == admitted, what="the inventory")
    m = published(server)
    assert m['ampora_opamp_messages_rejected_total{reason="registration_rate"}'] == len(refused)


def test_the_inventory_has_a_maximum_and_forgets_old_agents(stop_after):
    # 0.00003 days: an agent disconnected for 2.6 s is forgotten.
    server = Server("--max-agents", "5", "--forget-after", "0.00003")
    stop_after(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=10)
    uids = [uuid.uuid4().bytes for _ in range(6)]
    replies = [post(conn, A(instance_uid=u, sequence_num=1, capabilities=CAPS))[1] for u in uids]
    assert all(not r.HasField("error_response") for r in replies[:5])
    assert replies[5].error_response.type == opamp_pb2.ServerErrorResponseType_Unavailable
    assert "--max-agents" in replies[5].error_response.error_message
    bye = A(instance_uid=uids[0], sequence_num=2, capabilities=CAPS)
    bye.agent_disconnect.SetInParent()
    assert post(conn, bye)[0] == 200
    path = f"/api/v1/agents/{uuid.UUID(bytes=uids[0])}"
    wait_for(lambda: api(server, "GET", path)[0] == 404, timeout=20, what="the disconnected agent forgotten")
    # The counter follows the removal (the API can answer 404 a moment before it moves).
    wait_for(lambda: published(server)["ampora_fleet_agents_forgotten_total"] >= 1, timeout=5,
             what="the forgotten-agents counter")
    # Its room is free again.
    assert not post(conn, A(instance_uid=uids[5], sequence_num=1, capabilities=CAPS))[1].HasField("error_response")


def raw_exchange(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        s.settimeout(0.5)
        try:
            while chunk := s.recv(4096):
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def test_agent_port_protocol_deviations(stop_after):
    server = Server()
    stop_after(server)
    head = raw_exchange(server.opamp_port, b"HEAD /v1/opamp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and head.endswith(b"\r\n\r\n"), head
    bad_host = raw_exchange(server.opamp_port, b"GET /v1/opamp HTTP/1.1\r\nHost: a b/c\r\n\r\n")
    assert bad_host.startswith(b"HTTP/1.1 400"), bad_host
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    twice = raw_exchange(server.opamp_port, b"GET /v1/opamp HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n" + key + key + b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert twice.startswith(b"HTTP/1.1 400"), twice
    uid = uuid.uuid4().bytes
    body = A(instance_uid=uid, sequence_num=1, capabilities=CAPS).SerializeToString()
    two_members = gzip.compress(body[:5]) + gzip.compress(body[5:])
    conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=10)
    status, reply = post(conn, two_members, {"Content-Encoding": "gzip"})
    assert status == 200 and reply.instance_uid == uid and not reply.HasField("error_response")

    async def websocket_rules():
        async with websockets.connect(server.ws_url) as ws:
            mine = uuid.uuid4().bytes
            ok = await exchange(ws, b"\x00" + A(instance_uid=mine, sequence_num=1, capabilities=CAPS).SerializeToString())
            assert not ok.HasField("error_response")
            other = await exchange(ws, b"\x00" + A(instance_uid=uuid.uuid4().bytes, sequence_num=1,
                                                   capabilities=CAPS).SerializeToString())
            assert other.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
            bye = A(instance_uid=mine, sequence_num=2, capabilities=CAPS)
            bye.agent_disconnect.SetInParent()
            await exchange(ws, b"\x00" + bye.SerializeToString())
            after = await exchange(ws, b"\x00" + A(instance_uid=mine, sequence_num=3,
                                                   capabilities=CAPS).SerializeToString())
            assert after.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest

    asyncio.run(asyncio.wait_for(websocket_rules(), 20))


def test_operator_port_protocol_deviations(stop_after):
    server = Server()
    stop_after(server)
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/healthz", method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and r.read() == b""
    status, body = api(server, "DELETE", "/api/v1/agents")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    conn.request("POST", "/api/v1/configs/prod", headers=auth)
    r = conn.getresponse()
    r.read()
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD, PUT"
    assert api(server, "GET", "/api/v1/nothing")[0] == 404
    for name in ("..", "."):
        conn.request("PUT", f"/api/v1/configs/{name}", body=b"receivers: {}\n",
                     headers={"Content-Type": "text/yaml", **auth})
        r = conn.getresponse()
        r.read()
        assert r.status in (404, 422), (name, r.status)


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_registrations_are_limited_per_source_address(io, stop_after):
    # Burst 20 (--registration-rate 1 × 20): each source address has its own bucket. On io_uring
    # the peer address of a registered descriptor comes from getsockopt(SO_PEERNAME) issued
    # through the ring; this checks that it arrives.
    server = Server("--io", io, "--registration-rate", "1")
    stop_after(server)

    def register(source, count):
        refused = 0
        for _ in range(count):
            conn = http.client.HTTPConnection("127.0.0.1", server.opamp_port, timeout=10,
                                              source_address=(source, 0))
            _, reply = post(conn, A(instance_uid=uuid.uuid4().bytes, sequence_num=1, capabilities=CAPS))
            refused += reply.error_response.type == opamp_pb2.ServerErrorResponseType_Unavailable
            conn.close()
        return refused

    assert register("127.0.0.2", 20) == 0
    assert register("127.0.0.2", 3) == 3, "the first source's burst is spent"
    assert register("127.0.0.3", 20) == 0, "another source has its own bucket"
