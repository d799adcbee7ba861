#!/usr/bin/env python3
"""Checks opamp-load against a scripted WebSocket server that decodes every AgentToServer with
the reference schema (opentelemetry-opamp-client's opamp_pb2, from the project's .venv):

    ../../.venv/bin/python selftest.py            # from Benchmarks/loadgen, after `make`

Scenarios (each a short opamp-load run against this process on 127.0.0.1):
  ok          correct replies: no violations, exit 0; messages decode; heartbeats 23-25 bytes
  bad-uid     replies echo a wrong instance_uid: violations counted, exit 1
  no-caps     first reply lacks capabilities: violation, exit 1
  full-state  ReportFullState on a heartbeat reply: the next message is a full status
  ping-close  server pings (expects a masked pong), then closes with 1001: the agent echoes
              the close and reconnects later with the same uid and a continuing sequence_num
  remote-config  the first reply carries a remote config: the agent reports APPLYING, then
              APPLIED with the server's hash and the pushed map as effective config, and a
              later full status (ReportFullState) carries both
  rc-fail, rc-stall, rc-unhealthy  the pushed config carries a marker (ampora-bench-fail, -stall,
              -unhealthy): the agent reports FAILED; reports nothing for it but keeps heartbeating;
              applies it and then, in a message of its own, reports itself unhealthy
  http        --transport http: POST /v1/opamp per message, bodies decode, heartbeats answered
  storm       --storm-at: every connection dropped at once, every agent back (uid kept)
  tls         --tls against this server behind Python's ssl (throwaway P-256 certificates from the
              openssl CLI): messages decode, every handshake counted as full
  tls-handshake  --mode handshake --tls-resume: cycles counted, resumed handshakes seen, none declined
  mtls        a server requiring client certificates: refused without one (a handshake error
              with its reason), accepted with --tls-cert/--tls-key
"""
import asyncio
import base64
import hashlib
import json
import os
import ssl
import struct
import subprocess
import sys
import tempfile

from opentelemetry._opamp.proto import opamp_pb2  # the independent oracle

HERE = os.path.dirname(os.path.abspath(__file__))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PUSHED_YAML = b"receivers:\n  otlp: {}\nexporters:\n  debug: {}\n"
PUSHED_HASH = hashlib.sha256(PUSHED_YAML).digest()
MARKED = ("rc-fail", "rc-stall", "rc-unhealthy")


def pushed(scenario):
    """The config the server pushes in `scenario`, and its hash."""
    yaml = PUSHED_YAML
    if scenario in MARKED:
        yaml += b"# ampora-bench-%s\n" % scenario[3:].encode()
    return yaml, hashlib.sha256(yaml).digest()


def check_message(srv, msg, size):
    """Checks shared by both transports; returns whether it was a full status."""
    full = msg.HasField("agent_description")
    if full:
        srv.check(msg.capabilities == 0x3807, "capabilities %x" % msg.capabilities)
        srv.check(msg.HasField("effective_config") and msg.HasField("remote_config_status"),
                  "full status lacks effective_config/remote_config_status")
        srv.check((msg.health.healthy or srv.scenario == "rc-unhealthy") and len(msg.health.component_health_map) == 3,
                  "health tree: %s" % msg.health)
        attrs = {kv.key for kv in msg.agent_description.identifying_attributes} | \
                {kv.key for kv in msg.agent_description.non_identifying_attributes}
        srv.check({"service.name", "host.name", "os.type"} <= attrs, "attributes %s" % attrs)
        if not msg.remote_config_status.last_remote_config_hash:
            body = msg.effective_config.config_map.config_map["collector.yaml"].body
            srv.check(900 <= len(body) <= 1400, "config body %d bytes" % len(body))
    elif not msg.HasField("agent_disconnect") and not msg.HasField("remote_config_status") \
            and not msg.HasField("health"):
        srv.check(23 <= size <= 25, "heartbeat is %d bytes" % size)
    srv.check(len(msg.instance_uid) == 16 and (msg.instance_uid[6] >> 4) == 7,
              "instance_uid not a 16-byte UUIDv7")
    return full


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", await reader.readexactly(8))[0]
    assert b1 & 0x80, "client frame not masked"
    mask = await reader.readexactly(4)
    data = bytearray(await reader.readexactly(n))
    for i in range(n):
        data[i] ^= mask[i & 3]
    return b0 & 0x0F, bytes(data)


def frame(opcode, payload):
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


class Server:
    def __init__(self, scenario):
        self.scenario = scenario
        self.log = []          # (conn#, kind, detail)
        self.conns = 0
        self.failures = []
        self.msgs = []
        self.asked = False

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)

    async def handle(self, reader, writer):
        self.conns += 1
        conn = self.conns
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.check(lines[0] == "GET /v1/opamp HTTP/1.1", "request line " + lines[0])
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        key = hdrs["sec-websocket-key"]
        self.check(len(base64.b64decode(key)) == 16, "key is not 16 bytes")
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        first = True
        n = 0
        try:
            while True:
                op, data = await read_frame(reader)
                if op == 0x8:
                    self.log.append((conn, "close", data[:2].hex()))
                    break
                if op == 0xA:
                    self.log.append((conn, "pong", data))
                    continue
                self.check(op == 0x2, "non-binary frame %d" % op)
                self.check(data[0] == 0, "OpAMP header not 0")
                msg = opamp_pb2.AgentToServer()
                msg.ParseFromString(data[1:])
                full = check_message(self, msg, len(data) - 1)
                kind = "full" if full else "hb"
                if not full and msg.HasField("remote_config_status"):
                    kind = "rc"
                if not full and msg.HasField("health"):
                    kind = "health"
                self.log.append((conn, kind, (msg.sequence_num, len(data) - 1)))
                self.msgs.append(msg)
                reply = opamp_pb2.ServerToAgent()
                reply.instance_uid = msg.instance_uid
                if self.scenario == "bad-uid" and n >= 1:
                    reply.instance_uid = bytes(16)
                if first and self.scenario != "no-caps":
                    reply.capabilities = 0x3F
                if self.scenario == "full-state" and n == 1:
                    reply.flags = 1
                pushing = self.scenario == "remote-config" or self.scenario in MARKED
                if pushing and n == 0:
                    f = reply.remote_config.config.config_map["collector.yaml"]
                    f.body, reply.remote_config.config_hash = pushed(self.scenario)
                    f.content_type = "text/yaml"
                if pushing and kind == "hb" and not self.asked:
                    reply.flags = 1
                    self.asked = True
                first = False
                n += 1
                payload = b"\x00" + reply.SerializeToString()
                size = bytes([len(payload)]) if len(payload) < 126 else b"\x7e" + struct.pack(">H", len(payload))
                writer.write(b"\x82" + size + payload)
                if self.scenario == "ping-close" and conn == 1 and n == 2:
                    writer.write(frame(0x9, b"hello"))
                    await asyncio.sleep(0.2)
                    writer.write(frame(0x8, struct.pack(">H", 1001)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def handle_http(self, reader, writer):
        """Plain-HTTP OpAMP: one AgentToServer per POST, keep-alive."""
        self.conns += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                self.check(lines[0] == "POST /v1/opamp HTTP/1.1", "request line " + lines[0])
                hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
                self.check(hdrs.get("content-type") == "application/x-protobuf", "content type %s" % hdrs)
                body = await reader.readexactly(int(hdrs["content-length"]))
                msg = opamp_pb2.AgentToServer()
                msg.ParseFromString(body)
                full = check_message(self, msg, len(body))
                self.log.append((self.conns, "full" if full else "hb", (msg.sequence_num, len(body))))
                reply = opamp_pb2.ServerToAgent(instance_uid=msg.instance_uid, capabilities=0x3F)
                out = reply.SerializeToString()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def drain(reader, writer):
    """Handshake mode: the client only completes TLS, sends close_notify and closes."""
    try:
        await reader.read()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


def make_certs(d):
    """One throwaway ECDSA P-256 CA signing a server certificate (127.0.0.1) and a client one."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    def sh(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)
    with open(os.path.join(d, "srv.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "cli.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    sh("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=selftest ca")
    for name in ("srv", "cli"):
        sh("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        sh("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
           "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext")
    return {k: os.path.join(d, k + ext) for k, ext in (("ca", ".pem"), ("srv", ".pem"), ("cli", ".pem"))} | \
        {"srv_key": os.path.join(d, "srv.key"), "cli_key": os.path.join(d, "cli.key")}


def server_context(certs, require_client=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["srv"], certs["srv_key"])
    if require_client:
        ctx.load_verify_locations(certs["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def run(scenario, agents=3, duration=4.0, heartbeat=0.5, extra=(), ssl_ctx=None, handler=None):
    srv = Server(scenario)
    http = scenario == "http"
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)  # refused TLS clients
    server = await asyncio.start_server(handler or (srv.handle_http if http else srv.handle), "127.0.0.1", 0,
                                        ssl=ssl_ctx)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        os.path.join(HERE, "opamp-load"), "--target", "127.0.0.1:%d" % port, "--agents", str(agents),
        "--duration", str(duration), "--heartbeat", str(heartbeat), "--rate", "100",
        "--stats-interval", "10", "--transport", "http" if http else "ws", *extra,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    server.close()
    final = json.loads(out.decode().strip().splitlines()[-1])
    return srv, final, proc.returncode, err.decode()


def expect(name, cond, detail=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else "  " + str(detail)))
    return cond


async def main():
    ok = True
    srv, fin, rc, err = await run("ok")
    ok &= expect("ok: exit 0, no violations/errors", rc == 0 and fin["violations"] == 0 and fin["errors"] == 0, (rc, fin, err))
    ok &= expect("ok: messages decode as the schema says", not srv.failures, srv.failures)
    ok &= expect("ok: heartbeats answered", fin["replies"] == fin["msgs_sent"] and fin["samples"] > 0, fin)

    srv, fin, rc, err = await run("bad-uid")
    ok &= expect("bad-uid: violations, exit 1", rc == 1 and fin["violations"] > 0, (rc, fin))

    srv, fin, rc, err = await run("no-caps")
    ok &= expect("no-caps: one violation per agent, exit 1", rc == 1 and fin["violations"] == 3, (rc, fin))

    srv, fin, rc, err = await run("full-state", agents=1)
    kinds = [k for (_, k, _) in srv.log]
    ok &= expect("full-state: full status follows the flagged reply", kinds[:3] == ["full", "hb", "full"], kinds)

    srv, fin, rc, err = await run("ping-close", agents=1, duration=5.0)
    c1 = [(k, d) for (c, k, d) in srv.log if c == 1]
    c2 = [(k, d) for (c, k, d) in srv.log if c == 2]
    ok &= expect("ping-close: masked pong with the ping payload", ("pong", b"hello") in c1, c1)
    ok &= expect("ping-close: close 1001 echoed", ("close", "03e9") in c1, c1)
    ok &= expect("ping-close: reconnected with a full status and continuing sequence",
                 c2 and c2[0][0] == "full" and c2[0][1][0] == max(d[0] for k, d in c1 if k in ("full", "hb")) + 1,
                 (c1, c2))
    ok &= expect("ping-close: counted as a server close, not an error",
                 fin["server_closes"] == 1 and fin["errors"] == 0 and fin["reconnects"] == 1, fin)

    srv, fin, rc, err = await run("remote-config", agents=1)
    rcs = [(m.remote_config_status.status, m.remote_config_status.last_remote_config_hash)
           for m in srv.msgs if m.HasField("remote_config_status") and m.remote_config_status.status]
    S = opamp_pb2
    ok &= expect("remote-config: APPLYING then APPLIED with the server's hash",
                 rcs[:2] == [(S.RemoteConfigStatuses_APPLYING, PUSHED_HASH), (S.RemoteConfigStatuses_APPLIED, PUSHED_HASH)]
                 and fin["rc_agents_applied"] == 1 and fin["rc_hash"] == PUSHED_HASH.hex(), (rcs, fin))
    applied = [m for m in srv.msgs if m.remote_config_status.status == S.RemoteConfigStatuses_APPLIED]
    ok &= expect("remote-config: APPLIED carries the pushed map as effective config",
                 bool(applied) and applied[0].effective_config.config_map.config_map["collector.yaml"].body == PUSHED_YAML,
                 applied[:1])
    later = [m for m in srv.msgs[1:] if m.HasField("agent_description")]
    ok &= expect("remote-config: a later full status reports APPLIED and the pushed config",
                 bool(later) and later[0].remote_config_status.status == S.RemoteConfigStatuses_APPLIED
                 and later[0].effective_config.config_map.config_map["collector.yaml"].body == PUSHED_YAML
                 and not srv.failures, (later[:1], srv.failures))

    def statuses(srv):
        return [(m.remote_config_status.status, m.remote_config_status.last_remote_config_hash)
                for m in srv.msgs if m.HasField("remote_config_status") and m.remote_config_status.status]

    srv, fin, rc, err = await run("rc-fail", agents=1)
    _, digest = pushed("rc-fail")
    ok &= expect("rc-fail: FAILED with the server's hash, never APPLIED",
                 set(statuses(srv)) == {(S.RemoteConfigStatuses_FAILED, digest)} and fin["rc_failed"] == 1 and fin["rc_applied"] == 0
                 and not srv.failures, (statuses(srv), fin, srv.failures))

    srv, fin, rc, err = await run("rc-stall", agents=1)
    kinds = [k for (_, k, _) in srv.log]
    later = [m for m in srv.msgs[1:] if m.HasField("agent_description")]
    ok &= expect("rc-stall: no status for the config, heartbeats go on, a later full status names no hash",
                 not statuses(srv) and fin["rc_stalled"] == 1 and fin["rc_applied"] == 0 and kinds.count("hb") >= 4
                 and later and not later[0].remote_config_status.last_remote_config_hash and rc == 0
                 and not srv.failures, (statuses(srv), kinds, fin, srv.failures))

    srv, fin, rc, err = await run("rc-unhealthy", agents=1)
    _, digest = pushed("rc-unhealthy")
    kinds = [k for (_, k, _) in srv.log]
    unhealthy = [i for i, m in enumerate(srv.msgs) if m.HasField("health") and not m.health.healthy]
    applied = [i for i, m in enumerate(srv.msgs) if m.remote_config_status.status == S.RemoteConfigStatuses_APPLIED]
    told = srv.msgs[unhealthy[0]] if unhealthy else None
    ok &= expect("rc-unhealthy: APPLYING, APPLIED, then unhealthy in the next message, with the error",
                 statuses(srv)[:2] == [(S.RemoteConfigStatuses_APPLYING, digest), (S.RemoteConfigStatuses_APPLIED, digest)]
                 and applied and unhealthy and unhealthy[0] == applied[0] + 1 and kinds[unhealthy[0]] == "health"
                 and "ampora-bench-unhealthy" in told.health.last_error
                 and not told.health.component_health_map["pipeline:metrics"].healthy
                 and told.health.component_health_map["pipeline:logs"].healthy
                 and fin["unhealthy_reports"] == 1 and not srv.failures, (kinds, unhealthy, applied, fin, srv.failures))
    later = [m for m in srv.msgs[unhealthy[0] if unhealthy else 0:] if m.HasField("agent_description")]
    ok &= expect("rc-unhealthy: a later full status is still unhealthy, and APPLIED",
                 bool(later) and not later[0].health.healthy
                 and later[0].remote_config_status.status == S.RemoteConfigStatuses_APPLIED, later[:1])

    srv, fin, rc, err = await run("http")
    ok &= expect("http: exit 0, no violations/errors, heartbeats answered",
                 rc == 0 and fin["violations"] == 0 and fin["errors"] == 0 and fin["samples"] > 0
                 and fin["replies"] == fin["msgs_sent"], (rc, fin, err))
    ok &= expect("http: bodies decode as the schema says", not srv.failures and srv.log[0][1] == "full",
                 (srv.failures, srv.log[:3]))

    srv, fin, rc, err = await run("storm", duration=4.0, extra=("--storm-at", "1.5"))
    uids = {}
    for m in srv.msgs:
        uids.setdefault(m.instance_uid, []).append(m.HasField("agent_description"))
    ok &= expect("storm: all 3 dropped at once and back, as errors 0, uids kept",
                 rc == 0 and fin["storm_dropped"] == 3 and fin["storm_all_back_s"] > 0 and fin["errors"] == 0
                 and srv.conns == 6 and len(uids) == 3 and all(v.count(True) == 2 for v in uids.values()),
                 (rc, fin.get("storm_dropped"), fin.get("storm_all_back_s"), srv.conns, err))

    with tempfile.TemporaryDirectory(prefix="opamp-load-selftest-") as d:
        certs = make_certs(d)
        ca = ("--tls", "--tls-ca", certs["ca"])
        srv, fin, rc, err = await run("tls", extra=ca, ssl_ctx=server_context(certs))
        ok &= expect("tls: exit 0, no violations/errors, heartbeats answered, 3 full handshakes",
                     rc == 0 and fin["violations"] == 0 and fin["errors"] == 0 and fin["samples"] > 0
                     and fin["replies"] == fin["msgs_sent"] and fin["tls_full"] == 3 and fin["tls_errors"] == 0,
                     (rc, fin, err))
        ok &= expect("tls: messages decode as the schema says", not srv.failures and srv.log[0][1] == "full",
                     (srv.failures, srv.log[:3]))

        srv, fin, rc, err = await run("tls-handshake", agents=4, duration=2.0, handler=drain,
                                      extra=ca + ("--mode", "handshake", "--tls-resume"),
                                      ssl_ctx=server_context(certs))
        # Declined: an offer the server turned down, or one OpenSSL's client did not send because
        # the worker's ticket was shared with a connection (a resumed handshake marks it used).
        ok &= expect("tls-handshake: cycles counted, no errors, resumed handshakes after the first tickets, "
                     "none declined",
                     rc == 0 and fin["handshakes"] >= 20 and fin["errors"] == 0 and fin["tls_resumed"] > 0
                     and fin["tls_full"] + fin["tls_resumed"] == fin["handshakes"]
                     and fin["tls_resume_declined"] == 0, (rc, fin, err))

        srv, fin, rc, err = await run("mtls", agents=2, duration=2.0, extra=ca,
                                      ssl_ctx=server_context(certs, require_client=True))
        # (Python's asyncio drops a refused client without an alert: the reason is then an EOF)
        ok &= expect("mtls: without a client certificate every attempt fails, with a reason",
                     fin["connected"] == 0 and fin["tls_errors"] > 0 and fin["errors"] == fin["tls_errors"]
                     and all(k.startswith("handshake") for k in fin.get("tls_error_reasons", {}))
                     and bool(fin.get("tls_error_reasons")), (fin, err))
        srv, fin, rc, err = await run("mtls", agents=2, duration=2.0,
                                      extra=ca + ("--tls-cert", certs["cli"], "--tls-key", certs["cli_key"]),
                                      ssl_ctx=server_context(certs, require_client=True))
        ok &= expect("mtls: with --tls-cert/--tls-key accepted, no errors",
                     rc == 0 and fin["connected"] == 2 and fin["errors"] == 0 and fin["replies"] > 0, (rc, fin, err))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
