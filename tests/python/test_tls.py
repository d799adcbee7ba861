"""Agents over TLS: the real `ampora serve` with --tls-cert on loopback, the PyPI OpAMP client
over https (with and without a client certificate) and WebSocket agents over wss.

Certificates are the test fixtures in Tests/GatewayTests/Fixtures/tls (see its README)."""
import asyncio
import subprocess
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
import urllib.request

import pytest
import websockets

from opentelemetry._opamp.client import OpAMPClient
from opentelemetry._opamp.proto import opamp_pb2

import opamp_ref
from conftest import ROOT
from test_gateway import Server, msg, exchange, run

TLS = ROOT / "Tests/GatewayTests/Fixtures/tls"


def fixture(name):
    return str(TLS / name)


def client_context(cert=None, key=None, max_version=None):
    ctx = ssl.create_default_context(cafile=fixture("ca.pem"))
    if cert:
        ctx.load_cert_chain(fixture(cert), fixture(key))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


class TLSServer(Server):
    def __init__(self, *args, cert="server.pem", key="server.key", dbdir=None):
        self.certdir = tempfile.mkdtemp(prefix="ampora-tls-")
        # Copies, so a test can rotate them under the running server.
        shutil.copy(fixture(cert), f"{self.certdir}/server.pem")
        shutil.copy(fixture(key), f"{self.certdir}/server.key")
        super().__init__(
            "--tls-cert", f"{self.certdir}/server.pem", "--tls-key", f"{self.certdir}/server.key", *args, dbdir=dbdir)
        self.wss_url = f"wss://127.0.0.1:{self.opamp_port}/v1/opamp"
        self.https_url = f"https://127.0.0.1:{self.opamp_port}/v1/opamp"

    def handshake(self, ctx):
        """One TLS handshake to the agent port; returns the peer certificate (DER) or raises."""
        with socket.create_connection(("127.0.0.1", self.opamp_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports a refused client certificate only on the first read.
                tls.sendall(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
                reply = tls.recv(64)
                return tls.getpeercert(binary_form=True), reply

    def stop(self):
        code = super().stop()
        shutil.rmtree(self.certdir, ignore_errors=True)
        return code


@pytest.fixture(params=["uring", "epoll"])
def tls_server(request):
    s = TLSServer("--io", request.param)
    assert s.io == request.param
    yield s
    assert s.stop() == 0


def test_ready_line_names_the_tls_listener(tls_server):
    assert tls_server.io in ("uring", "epoll")
    assert f"tls=127.0.0.1:{tls_server.opamp_port}" in tls_server.ready_line.split(), tls_server.ready_line
    _, reply = tls_server.handshake(client_context())
    assert reply.startswith(b"HTTP/1.1 404")


def test_alpn_selects_http11_and_serves_clients_that_offer_only_others(tls_server):
    for offered, expected in ((["h2", "http/1.1"], "http/1.1"), (["h2"], None), (None, None)):
        ctx = client_context()
        if offered:
            ctx.set_alpn_protocols(offered)
        with socket.create_connection(("127.0.0.1", tls_server.opamp_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.selected_alpn_protocol() == expected, offered
                tls.sendall(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
                assert tls.recv(64).startswith(b"HTTP/1.1 404"), offered


def test_record_buffers_come_from_the_pool(tls_server):
    """OpenSSL's per-record buffers are taken from the per-thread pool: the server installed its
    allocator before anything made OpenSSL allocate (else it warns and the gauge reads 0)."""
    tls_server.handshake(client_context())
    assert tls_server.metrics()["ampora_tls_record_buffers_pooled"] == 1


def test_websocket_agent_over_wss(tls_server):
    uid = os.urandom(16)

    async def go():
        async with websockets.connect(tls_server.wss_url, ssl=client_context(), server_hostname="localhost") as ws:
            first = await exchange(ws, msg(uid, 0, full=True))
            assert first.instance_uid == uid
            second = await exchange(ws, msg(uid, 1))
            assert second.instance_uid == uid

    run(go())
    m = tls_server.metrics()
    assert m["ampora_tls_handshakes_total"] >= 1


def test_reference_client_over_https(tls_server):
    client = OpAMPClient(
        endpoint=tls_server.https_url,
        agent_identifying_attributes={"service.name": "python-agent"},
        capabilities=opamp_pb2.AgentCapabilities_ReportsStatus,
        tls_certificate=fixture("ca.pem"),
    )
    first = client.send(client.build_full_state_message())
    assert first.instance_uid == client._instance_uid
    beat = client.send(client.build_heartbeat_message())
    assert beat.instance_uid == client._instance_uid


def test_plain_text_on_the_tls_port_gets_no_answer_in_the_clear(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.opamp_port), timeout=5) as s:
        s.sendall(b"GET /v1/opamp HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert b"HTTP/1.1" not in data
    assert tls_server.metrics()['ampora_tls_handshake_failures_total{reason="not_tls"}'] >= 1


def test_minimum_version_13_refuses_tls12():
    s = TLSServer("--tls-min-version", "1.3")
    try:
        with pytest.raises(ssl.SSLError):
            s.handshake(client_context(max_version=ssl.TLSVersion.TLSv1_2))
        s.handshake(client_context())  # 1.3 still works
        assert s.metrics()['ampora_tls_handshake_failures_total{reason="version"}'] >= 1
    finally:
        assert s.stop() == 0


def test_mutual_tls_required():
    s = TLSServer("--tls-client-ca", fixture("ca.pem"), "--tls-client-auth", "require")
    try:
        s.handshake(client_context("client.pem", "client.key"))
        for ctx in (client_context(), client_context("stranger.pem", "stranger.key")):
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                s.handshake(ctx)
        client = OpAMPClient(
            endpoint=s.https_url,
            agent_identifying_attributes={"service.name": "python-agent"},
            capabilities=opamp_pb2.AgentCapabilities_ReportsStatus,
            tls_certificate=fixture("ca.pem"),
            tls_client_certificate=fixture("client.pem"),
            tls_client_key=fixture("client.key"),
        )
        assert client.send(client.build_full_state_message()).instance_uid == client._instance_uid
        assert s.metrics()['ampora_tls_handshake_failures_total{reason="certificate"}'] >= 2
    finally:
        assert s.stop() == 0


def test_sighup_rotates_the_certificate_without_dropping_agents():
    s = TLSServer()
    try:
        uid = os.urandom(16)
        before, _ = s.handshake(client_context())

        async def go():
            async with websockets.connect(s.wss_url, ssl=client_context(), server_hostname="localhost") as ws:
                await exchange(ws, msg(uid, 0, full=True))
                shutil.copy(fixture("server-rsa.pem"), f"{s.certdir}/server.pem")
                shutil.copy(fixture("server-rsa.key"), f"{s.certdir}/server.key")
                s.proc.send_signal(signal.SIGHUP)
                deadline = time.time() + 10
                after = before
                while after == before and time.time() < deadline:
                    await asyncio.sleep(0.2)
                    after, _ = await asyncio.to_thread(s.handshake, client_context())
                assert after != before, "new connections get the new certificate"
                again = await exchange(ws, msg(uid, 1))
                assert again.instance_uid == uid, "the agent connected before the reload is still served"

        run(go())
    finally:
        assert s.stop() == 0


def test_unusable_certificate_is_a_usage_error():
    import subprocess
    from conftest import bin_dir
    out = subprocess.run(
        [str(bin_dir() / "ampora"), "serve", "--tls-cert", fixture("server.pem"), "--tls-key", fixture("client.key"),
         "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--database", "sqlite::memory:"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 64
    assert "does not match the certificate" in out.stderr


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_abandoned_handshakes_leak_nothing_and_others_are_served():
    """A hundred thousand connections that start a handshake (half a ClientHello), half of which
    vanish and half stall: each is closed (by the peer, or by the header timeout), a real agent
    is served meanwhile, and the server's memory stops growing."""
    s = TLSServer("--header-timeout", "2")
    try:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        hello = ssl.create_default_context(cafile=fixture("ca.pem")).wrap_bio(
            incoming, outgoing, server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            hello.do_handshake()
        partial = outgoing.read()[:40]  # half a real ClientHello
        assert partial[:1] == b"\x16"

        per_round = 5000  # within the test's open-file limit; ten rounds make 50 000

        def round_of_abandoned():
            socks = []
            for _ in range(per_round):
                c = socket.create_connection(("127.0.0.1", s.opamp_port), timeout=5)
                c.sendall(partial)
                socks.append(c)
            s.handshake(client_context())  # a real agent is served meanwhile
            assert s.metrics()["ampora_tls_sessions"] > 0, "the gauge sees the open handshakes"
            for c in socks[:per_round // 2]:
                c.close()  # abandoned
            time.sleep(3)  # the other half stall past --header-timeout and are closed by the server
            for c in socks[per_round // 2:]:
                c.settimeout(0.1)
                try:
                    assert c.recv(100) == b"", "nothing but the close comes back"
                except (ConnectionResetError, socket.timeout):
                    pass
                c.close()

        def settled_rss():
            # Freed handshake state goes back to the system at the engine's next heap trim
            # (every 10 s): the lowest RSS seen over a little more than one trim period.
            lowest = rss_kb(s.proc.pid)
            until = time.monotonic() + 12
            while time.monotonic() < until:
                time.sleep(0.5)
                lowest = min(lowest, rss_kb(s.proc.pid))
            return lowest

        # The exact check: every `SSL` made for those handshakes is freed again, and every
        # connection record with it. The resident memory is a coarse check against anything else
        # a handshake might leave behind. The allocator's arenas settle over the first tens of
        # thousands of handshakes (12 to 50 MiB of growth over the first 50 000 with nothing
        # leaked, and little more over the next 50 000), so the bound is on the second 50 000:
        # a leak grows with every round, settling does not.
        def freed():
            deadline = time.monotonic() + 10
            while (m := s.metrics())["ampora_tls_sessions"] != 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert m["ampora_tls_sessions"] == 0, "every handshake's SSL is freed"
            assert m["ampora_agent_connections"] == 0

        round_of_abandoned()
        baseline = settled_rss()
        for _ in range(10):
            round_of_abandoned()
        freed()
        settled = settled_rss()
        for _ in range(10):
            round_of_abandoned()
        freed()
        end = settled_rss()
        assert end - settled < 24 * 1024, (
            f"RSS grew by {end - settled} KiB over the second 50 000 abandoned handshakes "
            f"({settled - baseline} KiB over the first)")
        assert end - baseline < 128 * 1024, f"RSS grew by {end - baseline} KiB over 100 000 abandoned handshakes"
    finally:
        assert s.stop() == 0


def test_client_initiated_renegotiation_is_refused_and_the_server_goes_on():
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    s = TLSServer()
    try:
        # `R` asks s_client to renegotiate (TLS 1.2 only); the server must refuse, not redo it.
        out = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{s.opamp_port}", "-tls1_2", "-CAfile", fixture("ca.pem"),
             "-servername", "localhost"], input="R\n", capture_output=True, text=True, timeout=20)
        assert "Verify return code: 0" in out.stdout, "the first handshake completed"
        assert "RENEGOTIATING" in out.stderr
        assert "no renegotiation" in out.stderr, "the server answered the new ClientHello with no_renegotiation"
        assert out.returncode != 0
        assert s.metrics()["ampora_tls_errors_total"] >= 1, "and closed the connection, counted"
        s.handshake(client_context())  # still serving
        assert s.proc.poll() is None
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_plain_and_tls_listeners_at_once(io):
    """--opamp-tls-listen: TLS there, plain text on --opamp-listen, one fleet: a uid already
    connected on one listener is a duplicate on the other."""
    certdir = tempfile.mkdtemp(prefix="ampora-tls-")
    try:
        s = Server("--io", io, "--tls-cert", fixture("server.pem"), "--tls-key", fixture("server.key"),
                   "--opamp-tls-listen", "127.0.0.1:0")
    finally:
        shutil.rmtree(certdir, ignore_errors=True)
    try:
        line_tls = [kv for kv in s.ready_line.split() if kv.startswith("tls=")]
        assert line_tls, s.ready_line
        tls_port = int(line_tls[0].rsplit(":", 1)[1])
        assert tls_port != s.opamp_port
        uid = os.urandom(16)

        async def go():
            async with websockets.connect(s.ws_url) as plain:
                assert (await exchange(plain, msg(uid, 0, full=True))).instance_uid == uid
                async with websockets.connect(f"wss://127.0.0.1:{tls_port}/v1/opamp", ssl=client_context(),
                                              server_hostname="localhost") as secure:
                    await exchange(secure, msg(uid, 0, full=True))
                    raw = await asyncio.wait_for(secure.recv(), timeout=5)  # S11: a second reply
                    reassigned = opamp_ref.server_to_agent_class()()
                    reassigned.ParseFromString(raw[1:])
                    assert len(reassigned.agent_identification.new_instance_uid) == 16, \
                        "the same uid on the other listener is a duplicate"
                assert (await exchange(plain, msg(uid, 1))).instance_uid == uid

        run(go())
    finally:
        assert s.stop() == 0


def test_a_huge_client_certificate_chain_is_refused_cheaply(tmp_path):
    """A client that sends megabytes of certificates: OpenSSL's bound on a peer's chain stops it
    early, the handshake fails (counted), the server's memory does not follow, others are served."""
    s = TLSServer("--tls-client-ca", fixture("ca.pem"))
    try:
        chain = tmp_path / "huge.pem"
        block = open(fixture("ca.pem")).read()
        chain.write_text(open(fixture("client.pem")).read() + block * (10_000_000 // len(block) + 1))  # 10 MB
        ctx = client_context()
        ctx.load_cert_chain(str(chain), fixture("client.key"))
        baseline = rss_kb(s.proc.pid)
        for _ in range(3):
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                s.handshake(ctx)
        assert rss_kb(s.proc.pid) - baseline < 16 * 1024
        s.handshake(client_context("client.pem", "client.key"))
        failures = s.metrics()
        assert sum(v for k, v in failures.items() if k.startswith("ampora_tls_handshake_failures_total")) >= 3
    finally:
        assert s.stop() == 0


def test_the_operator_port_over_tls():
    s = Server("--http-tls-cert", fixture("server.pem"), "--http-tls-key", fixture("server.key"))
    try:
        ctx = client_context()
        with urllib.request.urlopen(f"https://localhost:{s.http_port}/healthz", context=ctx, timeout=10) as r:
            assert r.status == 200
        with pytest.raises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/healthz", timeout=5).read()
    finally:
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=15) == 0
        shutil.rmtree(s.dbdir, ignore_errors=True)


def test_operator_tls_flags_go_together():
    from conftest import bin_dir
    out = subprocess.run([str(bin_dir() / "ampora"), "serve", "--http-tls-cert", fixture("server.pem"),
                          "--database", "sqlite::memory:"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 64 and "--http-tls-key" in out.stderr


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_openssl_s_client_with_tls_1_0_or_1_1_and_a_stranger_certificate_is_refused(version):
    s = TLSServer("--tls-client-ca", fixture("ca.pem"))
    try:
        # SECLEVEL=0 lets OpenSSL 3's client offer the old versions at all: the refusal is the server's.
        old = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{s.opamp_port}", version, "-cipher", "DEFAULT:@SECLEVEL=0",
             "-CAfile", fixture("ca.pem")], input=b"", capture_output=True, timeout=15)
        assert old.returncode != 0 and b"no peer certificate available" in old.stdout
        assert b"alert protocol version" in old.stderr, old.stderr
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(fixture("ca.pem"))
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1 if version == "-tls1" else ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            s.handshake(ctx)
        assert s.metrics()['ampora_tls_handshake_failures_total{reason="version"}'] >= 2
        # A client certificate from a CA this server does not know is refused by s_client too.
        stranger = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{s.opamp_port}", "-CAfile", fixture("ca.pem"),
             "-cert", fixture("stranger.pem"), "-key", fixture("stranger.key"), "-servername", "localhost"],
            input=b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", capture_output=True, timeout=15)
        assert b"HTTP/1.1" not in stranger.stdout
        assert s.metrics()['ampora_tls_handshake_failures_total{reason="certificate"}'] >= 1
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("mutual", [False, True])
def test_sessions_resume_from_tickets_with_and_without_client_certificates(mutual):
    s = TLSServer(*(["--tls-client-ca", fixture("ca.pem"), "--tls-client-auth", "require"] if mutual else []))
    try:
        ctx = client_context("client.pem", "client.key") if mutual else client_context()
        session = None
        for attempt in range(3):
            with socket.create_connection(("127.0.0.1", s.opamp_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                    assert tls.recv(64).startswith(b"HTTP/1.1")  # TLS 1.3 tickets arrive with data
                    if attempt > 0:
                        assert tls.session_reused, f"attempt {attempt} was a full handshake"
                    session = tls.session
    finally:
        assert s.stop() == 0
