"""The Fleet issue's proof, on the real binary: restart survival after kill -9 on both
backends, config dedupe, selector pushes over WebSocket, a PostgreSQL outage mid-load, and
malformed input on every operator endpoint.
"""
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import websockets

from conftest import bin_dir
from test_gateway import A, S, Server, exchange
from opentelemetry._opamp.proto import opamp_pb2

ROOT = Path(__file__).resolve().parents[2]
CAPS = 0x1 | 0x2 | 0x4 | 0x1000  # status, accepts remote config, effective config, reports remote config
REPORT_FULL_STATE = 0x1
# A config the Toolkit finds no error in: configs are checked before they are published.
COLLECTOR_CONFIG = (b"receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\n"
                    b"service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n")


def backends():
    out = ["sqlite"]
    if os.environ.get("AMPORA_TEST_POSTGRES_URL") or os.environ.get("CI") == "true":
        out.append("postgres")
    return out


def fresh_database(kind, tmp_path):
    if kind == "sqlite":
        return f"sqlite:{tmp_path / 'fleet.db'}"
    base = os.environ.get("AMPORA_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("AMPORA_TEST_POSTGRES_URL is not set (run the tests with `make test`)")
    name = "ampora_py_" + uuid.uuid4().hex
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=30)
    return base.rsplit("/", 1)[0] + "/" + name


def sql(database, query):
    """Runs a query on the server's database from outside and returns the rows."""
    if database.startswith("sqlite:"):
        with sqlite3.connect(database[len("sqlite:"):]) as db:
            return db.execute(query).fetchall()
    out = subprocess.run(["psql", database, "-tAF", "\t", "-c", query], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line]


def api(server, method, path, body=None, headers=None):
    """Calls the operator API; returns (status, parsed JSON or text)."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in ctype else raw.decode()


def metrics(server):
    _, text = api(server, "GET", "/metrics")
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def wait_written(server):
    """Waits until the write-behind backlog is empty and at least one flush happened."""
    def done():
        m = metrics(server)
        return m["ampora_persistence_backlog_rows"] == 0 and m["ampora_persistence_flushes_total"] > 0
    wait_for(done, what="the batch writer to drain")
    time.sleep(0.3)


def full_message(uid, seq, env="prod", config=b"receivers: {}\n", caps=CAPS, name=None):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=caps)
    m.agent_description.identifying_attributes.add(key="service.name").value.string_value = name or "otelcol"
    m.agent_description.non_identifying_attributes.add(key="env").value.string_value = env
    m.effective_config.config_map.config_map[""].body = config
    m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_UNSET
    return b"\x00" + m.SerializeToString()


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout))


async def connect_agents(server, specs):
    """Opens one WebSocket per (uid, env, caps, config) and sends its full first message."""
    sockets = []
    for uid, env, caps, config in specs:
        ws = await websockets.connect(server.ws_url, max_size=None)
        reply = await exchange(ws, full_message(uid, 1, env=env, caps=caps, config=config))
        assert reply.instance_uid == uid
        sockets.append(ws)
    return sockets


@pytest.mark.parametrize("backend", backends())
def test_state_survives_kill_9_and_agents_are_recognised(backend, tmp_path):
    database = fresh_database(backend, tmp_path)
    server = Server("--database", database)
    uids = [uuid.uuid4().bytes for _ in range(20)]

    async def first_run():
        sockets = await connect_agents(server, [(u, "prod" if i % 2 else "dev", CAPS, b"a: 1\n")
                                                 for i, u in enumerate(uids)])
        wait_written(server)
        return sockets

    sockets = run(first_run())
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert sockets

    server = Server("--database", database)
    try:
        status, page = api(server, "GET", "/api/v1/agents?limit=1000")
        assert status == 200
        assert page["total"] == 20
        assert {item["instanceUid"] for item in page["items"]} == {str(uuid.UUID(bytes=u)) for u in uids}
        assert all(not item["connected"] for item in page["items"])
        assert {item["attributes"]["env"] for item in page["items"]} == {"prod", "dev"}
        status, page = api(server, "GET", "/api/v1/agents?attr.env=prod")
        assert page["total"] == 10

        async def reconnect():
            # Status compression: a heartbeat-shaped first message. The server still holds the
            # agent's state, so it must not ask for a full report.
            ws = await websockets.connect(server.ws_url)
            m = A(instance_uid=uids[0], sequence_num=2, capabilities=CAPS)
            reply = await exchange(ws, b"\x00" + m.SerializeToString())
            await ws.close()
            return reply

        reply = run(reconnect())
        assert not reply.flags & REPORT_FULL_STATE
        unknown = run(_first_heartbeat(server, uuid.uuid4().bytes))
        assert unknown.flags & REPORT_FULL_STATE, "an agent the server never saw is asked for everything"
        wait_for(lambda: api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=uids[0])}")[1]["history"][0]["kind"]
                 in ("connected", "disconnected"), what="the reconnect in the history")
    finally:
        assert server.stop() == 0


async def _first_heartbeat(server, uid):
    ws = await websockets.connect(server.ws_url)
    reply = await exchange(ws, b"\x00" + A(instance_uid=uid, sequence_num=1, capabilities=CAPS).SerializeToString())
    await ws.close()
    return reply


@pytest.mark.parametrize("backend", backends())
def test_many_agents_with_one_effective_config_make_one_blob(backend, tmp_path):
    database = fresh_database(backend, tmp_path)
    server = Server("--database", database)
    try:
        async def go():
            specs = [(uuid.uuid4().bytes, "prod", CAPS, b"shared: config\n") for _ in range(60)]
            specs += [(uuid.uuid4().bytes, "prod", CAPS, b"odd: one\n")]
            sockets = await connect_agents(server, specs)
            wait_written(server)
            for ws in sockets:
                await ws.close()

        run(go())
        assert sql(database, "SELECT COUNT(*) FROM blobs WHERE kind = 'config'")[0][0] in (2, "2")
        hashes = {row[0] for row in sql(database, "SELECT effective_config_hash FROM agents")}
        assert len(hashes) == 2
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("backend", backends())
def test_a_selector_push_reaches_exactly_the_matching_capable_agents(backend, tmp_path):
    database = fresh_database(backend, tmp_path)
    server = Server("--database", database)
    try:
        async def go():
            prod = [uuid.uuid4().bytes for _ in range(8)]
            dev = [uuid.uuid4().bytes for _ in range(5)]
            incapable = [uuid.uuid4().bytes for _ in range(3)]
            specs = ([(u, "prod", CAPS, b"x: 1\n") for u in prod] + [(u, "dev", CAPS, b"x: 1\n") for u in dev]
                     + [(u, "prod", 0x1 | 0x4, b"x: 1\n") for u in incapable])
            sockets = await connect_agents(server, specs)
            by_uid = dict(zip([s[0] for s in specs], sockets))
            body = COLLECTOR_CONFIG
            status, config = api(server, "PUT", "/api/v1/configs/prod-base", body, {"Content-Type": "text/yaml"})
            assert status == 200 and config["name"] == "prod-base" and len(config["hash"]) == 64
            status, assignment = api(server, "POST", "/api/v1/assignments",
                                     {"config": "prod-base", "selector": {"env": "prod"}})
            assert status in (200, 201), assignment
            assert assignment["hash"] == config["hash"] and assignment["config"] == "prod-base"

            for u in prod:
                raw = await asyncio.wait_for(by_uid[u].recv(), timeout=10)
                push = S()
                push.ParseFromString(raw[1:])
                assert push.instance_uid == u
                assert push.remote_config.config_hash.hex() == config["hash"]
                assert push.remote_config.config.config_map[""].body == body
            for u in dev + incapable:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(by_uid[u].recv(), timeout=0.5)

            status, progress = api(server, "GET", f"/api/v1/assignments/{assignment['id']}")
            assert progress == {**progress, "targets": 8, "applied": 0, "pending": 8}
            for i, u in enumerate(prod):
                m = A(instance_uid=u, sequence_num=2, capabilities=CAPS)
                m.remote_config_status.last_remote_config_hash = bytes.fromhex(config["hash"])
                m.remote_config_status.status = (opamp_pb2.RemoteConfigStatuses_FAILED if i == 0
                                                  else opamp_pb2.RemoteConfigStatuses_APPLIED)
                if i == 0:
                    m.remote_config_status.error_message = "exporter otlp: bad endpoint"
                await exchange(by_uid[u], b"\x00" + m.SerializeToString())
            progress = wait_for(lambda: (lambda p: p if p["applied"] == 7 else None)(
                api(server, "GET", f"/api/v1/assignments/{assignment['id']}")[1]), what="APPLIED reports")
            assert (progress["targets"], progress["applied"], progress["failed"], progress["pending"]) == (8, 7, 1, 0)
            failed = api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=prod[0])}")[1]
            assert failed["remoteConfigStatus"] == {"hash": config["hash"], "status": "FAILED",
                                                    "error": "exporter otlp: bad endpoint"}

            # An agent connecting later gets the config in its first reply.
            ws = await websockets.connect(server.ws_url)
            late = await exchange(ws, full_message(uuid.uuid4().bytes, 1, env="prod"))
            assert late.remote_config.config_hash.hex() == config["hash"]
            await ws.close()
            for ws in sockets:
                await ws.close()

        run(go())
    finally:
        assert server.stop() == 0


def test_duplicate_uid_gets_a_new_uid_and_is_recorded(tmp_path):
    server = Server("--database", f"sqlite:{tmp_path / 'd.db'}")
    try:
        async def go():
            uid = uuid.uuid4().bytes
            first = await websockets.connect(server.ws_url)
            await exchange(first, full_message(uid, 1))
            second = await websockets.connect(server.ws_url)
            await second.send(full_message(uid, 1))
            replies = []
            while not any(r.HasField("agent_identification") for r in replies):
                raw = await asyncio.wait_for(second.recv(), timeout=10)
                r = S()
                r.ParseFromString(raw[1:])
                replies.append(r)
            fresh = [r for r in replies if r.HasField("agent_identification")][0].agent_identification.new_instance_uid
            assert len(fresh) == 16 and fresh != uid
            await first.close()
            await second.close()
            return uid, fresh

        uid, fresh = run(go())
        history = wait_for(lambda: [h for h in api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=uid)}")[1]["history"]
                                    if h["kind"] == "duplicate_uid"], what="the duplicate in the history")
        assert str(uuid.UUID(bytes=fresh)) in history[0]["detail"]
    finally:
        assert server.stop() == 0


def test_postgres_outage_mid_load_loses_nothing(tmp_path):
    if not (os.environ.get("AMPORA_TEST_POSTGRES_URL") or os.environ.get("CI") == "true"):
        pytest.skip("needs PostgreSQL: run the tests with `make test`")
    pgdir = Path(tempfile.mkdtemp(prefix="ampora-outage-"))
    port = _free_port()
    url = subprocess.run([str(ROOT / "scripts/pg.sh"), "start", str(pgdir), str(port)], check=True,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    server = None
    try:
        server = Server("--database", url)
        first = [uuid.uuid4().bytes for _ in range(30)]
        later = [uuid.uuid4().bytes for _ in range(30)]

        async def go():
            sockets = await connect_agents(server, [(u, "prod", CAPS, b"a: 1\n") for u in first])
            wait_written(server)
            subprocess.run([str(ROOT / "scripts/pg.sh"), "halt", str(pgdir)], check=True, timeout=60)
            sockets += await connect_agents(server, [(u, "dev", CAPS, b"b: 2\n") for u in later])
            for u, ws in zip(first, sockets):
                m = A(instance_uid=u, sequence_num=2, capabilities=CAPS)
                m.health.healthy = False
                m.health.last_error = "queue full"
                await exchange(ws, b"\x00" + m.SerializeToString())
            wait_for(lambda: metrics(server)["ampora_persistence_flush_failures_total"] > 0, what="a failed flush")
            m = metrics(server)
            assert m["ampora_persistence_healthy"] == 0
            assert m["ampora_persistence_backlog_rows"] >= 60
            status, body = api(server, "PUT", "/api/v1/configs/during-outage", COLLECTOR_CONFIG,
                               {"Content-Type": "text/yaml"})
            assert status == 503 and body["error"]["code"] == "database_unavailable"
            assert api(server, "GET", "/api/v1/agents")[1]["total"] == 60, "agents stay served"
            status, one = api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=later[0])}")
            assert status == 200 and one["historyComplete"] is False and one["history"], one
            subprocess.run([str(ROOT / "scripts/pg.sh"), "resume", str(pgdir), str(port)], check=True, timeout=60)
            wait_for(lambda: metrics(server)["ampora_persistence_healthy"] == 1, timeout=30, what="recovery")
            wait_written(server)
            for ws in sockets:
                await ws.close()

        run(go(), timeout=120)
        rows = sql(url, "SELECT uid, health IS NOT NULL FROM agents")
        assert len(rows) == 60
        assert {r[0] for r in rows} == {str(uuid.UUID(bytes=u)) for u in first + later}
        with_health = {r[0] for r in rows if r[1] in ("t", True)}
        assert with_health == {str(uuid.UUID(bytes=u)) for u in first}, "changes made during the outage were kept"
        unhealthy = sql(url, "SELECT COUNT(*) FROM agent_history WHERE kind = 'health_changed'")[0][0]
        assert int(unhealthy) == 30
    finally:
        if server:
            server.stop()
        subprocess.run([str(ROOT / "scripts/pg.sh"), "stop", str(pgdir)], timeout=60)


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_foreign_database_is_refused_at_start(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE payroll (id INTEGER)")
    proc = subprocess.run([str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen",
                           "127.0.0.1:0", "--database", f"sqlite:{path}"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "not an Ampora database" in proc.stderr and "payroll" in proc.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("payroll",)]


MALFORMED = [
    ("GET", "/api/v1/agents?limit=0", None, {}, 400),
    ("GET", "/api/v1/agents?limit=abc", None, {}, 400),
    ("GET", "/api/v1/agents?connected=maybe", None, {}, 400),
    ("GET", "/api/v1/agents?cursor=%27%3B--", None, {}, 400),
    ("GET", "/api/v1/agents?colour=red", None, {}, 400),
    ("GET", "/api/v1/agents/not-a-uuid", None, {}, 400),
    ("GET", "/api/v1/agents/0190a000-0000-7000-8000-000000000001", None, {}, 404),
    ("PUT", "/api/v1/configs/base", b"a: 1\n", {"Content-Type": "application/json"}, 415),
    ("PUT", "/api/v1/configs/base", b"a: 1\n", {}, 415),
    ("PUT", "/api/v1/configs/base", b"", {"Content-Type": "text/yaml"}, 422),
    ("PUT", "/api/v1/configs/bad%20name", b"a: 1\n", {"Content-Type": "text/yaml"}, 422),
    ("PUT", "/api/v1/configs/base", b"\xff\xfe\x00", {"Content-Type": "text/yaml"}, 422),
    ("PUT", "/api/v1/configs/huge", b"a" * (5 << 20), {"Content-Type": "text/yaml"}, 413),
    ("POST", "/api/v1/assignments", b"{not json", {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/assignments", b"[]", {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/assignments", b"{}", {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/assignments", b'{"config": "base", "selector": {"env": 1}}', {}, 400),
    ("POST", "/api/v1/assignments", b'{"config": "base", "selector": []}', {}, 400),
    ("POST", "/api/v1/assignments", b'{"config": "base", "uids": ["x"]}', {}, 422),
    ("POST", "/api/v1/assignments", b'{"config": "base", "colour": 1}', {}, 400),
    ("POST", "/api/v1/assignments", b'{"config": "nope"}', {}, 404),
    ("GET", "/api/v1/assignments/nope", None, {}, 404),
    ("GET", "/api/v1/configs/nope", None, {}, 404),
    ("GET", "/api/v1/nothing-here", None, {}, 404),
    ("DELETE", "/api/v1/agents", None, {}, 405),  # exists for GET: 405 with Allow (RFC 9110)
]


def test_malformed_requests_get_4xx_json_errors(tmp_path):
    server = Server("--database", f"sqlite:{tmp_path / 'm.db'}")
    try:
        assert api(server, "PUT", "/api/v1/configs/base", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})[0] == 200
        for method, path, body, headers, expected in MALFORMED:
            status, reply = api(server, method, path, body, headers)
            assert status == expected, (method, path, status, reply)
            assert isinstance(reply, dict) and set(reply) == {"error"}, (method, path, reply)
            assert reply["error"]["code"] and reply["error"]["message"], (method, path, reply)
        assert api(server, "GET", "/healthz") == (200, "ok\n")
        assert api(server, "GET", "/readyz")[0] == 200
    finally:
        assert server.stop() == 0
