"""The operator plane's access control on the real binary: every route refused without a token
and to a role too weak for it, tokens that expire and are revoked at once, the bootstrap admin
token, slowed-down failures, and an audit row for every change and none for a read, on both
databases.
"""
import http.client
import json
import os
import stat
import subprocess
import time
import uuid

import pytest

from conftest import ADMIN_TOKEN, bin_dir
from test_fleet import COLLECTOR_CONFIG, backends, fresh_database, wait_for
from test_gateway import Server

ROLES = ["viewer", "operator", "admin"]
UID = str(uuid.uuid4())

# Every route of the operator API with sample path values and the weakest role allowed. The
# Swift route-table test keeps the server's own table complete; this one checks what the
# running server does with it.
ROUTES = [
    ("GET", "/api/v1/whoami", "viewer"),
    ("GET", "/api/v1/agents", "viewer"),
    ("GET", f"/api/v1/agents/{UID}", "viewer"),
    ("POST", "/api/v1/agents/commands", "operator"),
    ("POST", f"/api/v1/agents/{UID}/restart", "operator"),
    ("POST", f"/api/v1/agents/{UID}/report-full-state", "operator"),
    ("POST", f"/api/v1/agents/{UID}/reconcile", "operator"),
    ("POST", f"/api/v1/agents/{UID}/disconnect", "operator"),
    ("POST", f"/api/v1/agents/{UID}/revoke", "admin"),
    ("DELETE", f"/api/v1/agents/{UID}/identity", "admin"),
    ("GET", "/api/v1/configs", "viewer"),
    ("GET", "/api/v1/configs/c", "viewer"),
    ("PUT", "/api/v1/configs/c", "operator"),
    ("GET", "/api/v1/configs/c/versions", "viewer"),
    ("POST", "/api/v1/configs/c/versions", "operator"),
    ("GET", "/api/v1/configs/c/versions/1", "viewer"),
    ("POST", "/api/v1/configs/c/versions/1/publish", "operator"),
    ("GET", "/api/v1/configs/c/versions/1/diff/2", "viewer"),
    ("GET", "/api/v1/configs/c/versions/1/graph.svg", "viewer"),
    ("GET", "/api/v1/configs/c/versions/1/graph.json", "viewer"),
    ("POST", "/api/v1/assignments", "operator"),
    ("GET", "/api/v1/assignments/x", "viewer"),
    ("GET", "/api/v1/rollouts", "viewer"),
    ("POST", "/api/v1/rollouts", "operator"),
    ("GET", "/api/v1/rollouts/x", "viewer"),
    ("POST", "/api/v1/rollouts/x/pause", "operator"),
    ("GET", "/api/v1/groups", "viewer"),
    ("GET", "/api/v1/groups/g", "viewer"),
    ("PUT", "/api/v1/groups/g", "operator"),
    ("DELETE", "/api/v1/groups/g", "operator"),
    ("GET", "/api/v1/ca/certificate.pem", "viewer"),
    ("GET", "/api/v1/ca/crl.pem", "viewer"),
    ("POST", "/api/v1/tokens", "admin"),
    ("GET", "/api/v1/access-tokens", "admin"),
    ("POST", "/api/v1/access-tokens", "admin"),
    ("DELETE", "/api/v1/access-tokens/0000", "admin"),
    ("GET", "/api/v1/audit", "viewer"),
]


def request(server, method, path, token=None, body=None, headers=None):
    """One request on a fresh connection, with exactly the headers given (no implicit token)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=20)
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=sent)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    parsed = json.loads(raw) if "json" in (r.getheader("Content-Type") or "") and raw else raw
    return r.status, r, parsed


def create(server, role, name=None, **extra):
    status, r, body = request(server, "POST", "/api/v1/access-tokens", ADMIN_TOKEN,
                              {"role": role, **({"name": name} if name else {}), **extra})
    assert status == 201, body
    assert r.getheader("Location") == f"/api/v1/access-tokens/{body['id']}"
    return body


def audit(server, query=""):
    status, _, page = request(server, "GET", "/api/v1/audit" + query, ADMIN_TOKEN)
    assert status == 200, page
    return page


@pytest.fixture
def server(tmp_path):
    s = Server("--database", f"sqlite:{tmp_path / 'access.db'}")
    yield s
    assert s.stop() == 0


def test_every_route_refuses_a_stranger_and_a_role_too_weak(server):
    tokens = {role: create(server, role)["token"] for role in ROLES}
    for method, path, needed in ROUTES:
        status, r, body = request(server, method, path)
        assert status == 401, (method, path, status)
        assert r.getheader("WWW-Authenticate") == 'Bearer realm="ampora"'
        assert body["error"]["code"] == "unauthenticated"
        for role in ROLES:
            status, _, body = request(server, method, path, tokens[role], b"{}",
                                      {"Content-Type": "application/json"})
            if ROLES.index(role) < ROLES.index(needed):
                assert status == 403 and body["error"]["code"] == "forbidden", (method, path, role, status)
                assert needed in body["error"]["message"]
            else:
                assert status not in (401, 403), (method, path, role, status, body)
    # Public routes stay public; unknown /api/ paths say nothing to strangers.
    assert request(server, "GET", "/healthz")[0] == 200
    assert request(server, "GET", "/readyz")[0] == 200
    assert request(server, "GET", "/metrics")[0] == 200
    assert request(server, "GET", "/api/v1/nothing")[0] == 401
    assert request(server, "GET", "/api/v1/nothing", tokens["viewer"])[0] == 404
    status, _, me = request(server, "GET", "/api/v1/whoami", tokens["operator"])
    assert status == 200 and me == {"name": "operator token", "role": "operator"}


def test_bad_credentials_are_refused_with_the_reason_and_slowed_down(server):
    status, r, body = request(server, "GET", "/api/v1/agents", "amp_not_a_token")
    assert status == 401 and body["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in r.getheader("WWW-Authenticate")
    status, _, _ = request(server, "GET", "/api/v1/agents", headers={"Authorization": "Basic YWI6Y2Q="})
    assert status == 401
    # The first few failures cost nothing; later ones wait longer and longer.
    for _ in range(6):
        request(server, "GET", "/api/v1/agents", "amp_wrong")
    started = time.monotonic()
    assert request(server, "GET", "/api/v1/agents", "amp_wrong")[0] == 401
    assert time.monotonic() - started >= 0.2, "a repeated failure is answered late"
    assert request(server, "GET", "/api/v1/agents", ADMIN_TOKEN)[0] == 200
    denied = audit(server, "?action=login")
    assert denied["total"] >= 8 and all(i["outcome"] == "denied" for i in denied["items"])


@pytest.mark.parametrize("backend", backends())
def test_tokens_expire_and_revocations_take_effect_at_once(backend, tmp_path):
    database = fresh_database(backend, tmp_path)
    server = Server("--database", database)
    try:
        short = create(server, "viewer", "short", expiresInSeconds=1)
        assert short["expiresAt"] is not None and short["token"].startswith(short["prefix"])
        assert request(server, "GET", "/api/v1/agents", short["token"])[0] == 200
        wait_for(lambda: request(server, "GET", "/api/v1/agents", short["token"])[0] == 401, timeout=10,
                 what="expiry")
        status, _, body = request(server, "GET", "/api/v1/agents", short["token"])
        assert body["error"]["message"] == "the token has expired"

        kept = create(server, "operator", "kept")
        assert request(server, "GET", "/api/v1/agents", kept["token"])[0] == 200
        assert request(server, "DELETE", f"/api/v1/access-tokens/{kept['id']}", ADMIN_TOKEN)[0] == 204
        status, _, body = request(server, "GET", "/api/v1/agents", kept["token"])
        assert status == 401 and body["error"]["message"] == "the token was revoked"
        assert request(server, "DELETE", f"/api/v1/access-tokens/{kept['id']}", ADMIN_TOKEN)[0] == 404

        # The command line writes the same table: a running server sees its tokens within 2 s.
        out = subprocess.run([str(bin_dir() / "ampora"), "token", "create", "--role", "operator", "--name", "cli",
                              "--database", database], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        cli_token = out.stdout.strip()
        assert "\n" not in cli_token and cli_token.startswith("amp_")
        wait_for(lambda: request(server, "GET", "/api/v1/agents", cli_token)[0] == 200, timeout=10,
                 what="a token made by the CLI")
        status, _, listing = request(server, "GET", "/api/v1/access-tokens", ADMIN_TOKEN)
        by_name = {t["name"]: t for t in listing["items"]}
        assert {"short", "kept", "cli", "admin-token-file"} <= set(by_name)
        assert by_name["kept"]["revokedAt"] is not None and by_name["cli"]["createdBy"] == "cli"
        assert all("token" not in t for t in listing["items"]), "a token is shown only when it is made"
        wait_for(lambda: request(server, "GET", "/api/v1/access-tokens", ADMIN_TOKEN)[2]["items"] and any(
            t["name"] == "cli" and t["lastUsedAt"] for t in
            request(server, "GET", "/api/v1/access-tokens", ADMIN_TOKEN)[2]["items"]), timeout=10, what="last use")

        listed = subprocess.run([str(bin_dir() / "ampora"), "token", "list", "--database", database],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "cli" in listed.stdout and cli_token not in listed.stdout
        revoked = subprocess.run([str(bin_dir() / "ampora"), "token", "revoke", by_name["cli"]["id"],
                                  "--database", database], capture_output=True, text=True, timeout=60)
        assert revoked.returncode == 0, revoked.stderr
        wait_for(lambda: request(server, "GET", "/api/v1/agents", cli_token)[0] == 401, timeout=10,
                 what="a revocation by the CLI")
        again = subprocess.run([str(bin_dir() / "ampora"), "token", "revoke", by_name["cli"]["id"],
                                "--database", database], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "no live token" in again.stderr
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("backend", backends())
def test_every_change_is_audited_and_no_read(backend, tmp_path):
    database = fresh_database(backend, tmp_path)
    server = Server("--database", database)
    try:
        viewer = create(server, "viewer", "vera")["token"]
        operator = create(server, "operator", "otto")["token"]
        before = audit(server)["total"]
        for path in ("/api/v1/agents", "/api/v1/configs", "/api/v1/rollouts", "/api/v1/groups"):
            assert request(server, "GET", path, viewer)[0] == 200
        assert audit(server)["total"] == before, "reads leave no audit row"

        status, r, body = request(server, "PUT", "/api/v1/configs/prod", operator, COLLECTOR_CONFIG,
                                  {"Content-Type": "text/yaml", "X-Request-Id": "req-42"})
        assert status == 200 and r.getheader("X-Request-Id") == "req-42"
        status, r, _ = request(server, "PUT", "/api/v1/configs/prod", operator, COLLECTOR_CONFIG + b"# 2\n",
                               {"Content-Type": "text/yaml", "If-Match": '"v1"'})
        assert status == 200 and len(r.getheader("X-Request-Id")) == 16
        assert request(server, "PUT", "/api/v1/configs/prod", viewer, COLLECTOR_CONFIG,
                       {"Content-Type": "text/yaml"})[0] == 403
        assert request(server, "PUT", "/api/v1/groups/edge", operator, {"selector": {"env": "edge"}},
                       {"Content-Type": "application/json"})[0] in (200, 201)

        page = audit(server, "?action=config.put")
        assert page["total"] == 3
        denied, second, first = page["items"]
        assert first["actor"] == "otto" and first["role"] == "operator" and first["outcome"] == "ok"
        assert first["target"] == "/api/v1/configs/prod" and first["requestId"] == "req-42"
        assert first["after"] == '"v1"' and first["source"] == "127.0.0.1" and first["status"] == 200
        assert second["before"] == '"v1"' and second["after"] == '"v2"'
        assert denied["actor"] == "vera" and denied["outcome"] == "denied" and denied["status"] == 403
        for item in page["items"]:
            assert set(item) >= {"time", "actor", "role", "action", "target", "outcome", "requestId", "source"}
        assert [i["action"] for i in audit(server, "?actor=otto")["items"]] == [
            "group.put", "config.put", "config.put"]
        assert audit(server, "?target=/api/v1/groups/")["items"][0]["action"] == "group.put"

        # Newest first, in pages that follow each other without a gap or a repeat.
        whole = audit(server)
        ids, cursor = [], None
        while True:
            page = audit(server, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
            assert page["total"] == whole["total"]
            ids += [i["id"] for i in page["items"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert ids == [i["id"] for i in whole["items"]]
        assert [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)
        assert audit(server, "?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z")["total"] == 0
        assert request(server, "GET", "/api/v1/audit?since=yesterday", ADMIN_TOKEN)[0] == 400
        assert request(server, "GET", "/api/v1/audit?sort=x", ADMIN_TOKEN)[0] == 400
    finally:
        assert server.stop() == 0


def test_audit_rows_cannot_be_updated(tmp_path):
    import sqlite3
    server = Server("--database", f"sqlite:{tmp_path / 'a.db'}")
    try:
        create(server, "viewer")
        assert audit(server)["total"] >= 1
    finally:
        assert server.stop() == 0
    with sqlite3.connect(tmp_path / "a.db") as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'mallory'")


def test_a_first_start_prints_a_bootstrap_admin_token_once(tmp_path):
    database = f"sqlite:{tmp_path / 'boot.db'}"
    server = Server("--database", database, admin_token=False)
    try:
        # Right after the ready line, on standard output (standard error is the log).
        announced = [server.proc.stdout.readline() for _ in range(3)]
        assert "shown once" in announced[0] and "revoke this one" in announced[2], announced
        token = announced[1].strip()
        assert token.startswith("amp_")
        status, _, me = request(server, "GET", "/api/v1/whoami", token)
        assert status == 200 and me == {"name": "bootstrap", "role": "admin"}
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=20)
    again = subprocess.Popen([str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0",
                              "--http-listen", "127.0.0.1:0", "--database", database],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert again.stdout.readline().startswith("ampora ready")
    finally:
        again.terminate()
        out, err = again.communicate(timeout=20)
    assert "amp_" not in out + err, "a database with a token gets no second bootstrap token"

    # --admin-token-file names a file that does not exist yet: the server makes the token there.
    path = tmp_path / "made-token"
    made = Server("--database", f"sqlite:{tmp_path / 'made.db'}", "--admin-token-file", str(path))
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert request(made, "GET", "/api/v1/whoami", path.read_text().strip())[0] == 200
    finally:
        assert made.stop() == 0


def test_metrics_can_require_a_token(tmp_path):
    server = Server("--database", f"sqlite:{tmp_path / 'm.db'}", "--metrics-require-token")
    try:
        assert request(server, "GET", "/metrics")[0] == 401
        assert request(server, "GET", "/metrics", ADMIN_TOKEN)[0] == 200
        assert request(server, "GET", "/healthz")[0] == 200
    finally:
        assert server.stop() == 0


def test_token_command_line_refuses_what_makes_no_sense(tmp_path):
    ampora = str(bin_dir() / "ampora")
    database = f"sqlite:{tmp_path / 't.db'}"
    for args, says in [([], "--role"), (["--role", "root"], "root"), (["--role", "viewer", "--enrollment"], "--role"),
                       (["--role", "viewer", "--expires", "soon"], "--expires"),
                       (["--role", "viewer", "--uses", "3"], "enrollment")]:
        out = subprocess.run([ampora, "token", "create", *args, "--database", database], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode != 0 and says in out.stderr, (args, out.stderr)


def test_overview_search_and_server_info(server):
    import asyncio
    import websockets
    from test_fleet import full_message

    uids = [uuid.uuid4().bytes for _ in range(3)]

    def checks():
        wait_for(lambda: request(server, "GET", "/api/v1/agents/facets", ADMIN_TOKEN)[2]["connected"] == 3,
                 what="three connected agents in the facets")
        status, _, facets = request(server, "GET", "/api/v1/agents/facets", ADMIN_TOKEN)
        assert facets["total"] == 3 and facets["disconnected"] == 0
        assert set(facets["configStates"]) == {"PENDING", "APPLYING", "APPLIED", "FAILED", "INCOMPATIBLE", "STALLED",
                                               "ROLLED_BACK", "DRIFTED"}
        found = request(server, "GET", "/api/v1/agents?search=berlin", ADMIN_TOKEN)[2]
        assert found["total"] == 1 and found["items"][0]["instanceUid"] == str(uuid.UUID(bytes=uids[0]))
        part = str(uuid.UUID(bytes=uids[2]))[:8]
        assert str(uuid.UUID(bytes=uids[2])) in [a["instanceUid"] for a in request(
            server, "GET", f"/api/v1/agents?search={part}", ADMIN_TOKEN)[2]["items"]]
        assert request(server, "GET", "/api/v1/agents?healthy=maybe", ADMIN_TOKEN)[0] == 400
        status, _, info = request(server, "GET", "/api/v1/server", ADMIN_TOKEN)
        assert status == 200 and info["engine"] in ("uring", "epoll") and info["database"]["backend"] == "sqlite"
        assert info["agents"]["connected"] == 3 and info["ready"] is True and info["version"]

    async def go():
        sockets = []
        try:
            for i, uid in enumerate(uids):
                ws = await websockets.connect(server.ws_url)
                sockets.append(ws)
                await ws.send(full_message(uid, 0, env="prod" if i else "edge-Berlin", name=f"collector-{i}"))
                await ws.recv()
            await asyncio.to_thread(checks)
        finally:
            for ws in sockets:
                await ws.close()

    asyncio.run(asyncio.wait_for(go(), 60))
