"""Bad input on every operator route that takes a body or a name: malformed JSON, wrong types,
unknown fields (refused and named), a 100 MB body (413), unicode and path traversal in names,
and 10 000 requests at once: each a clear 4xx in the API's error shape, and the server lives on.
"""
import asyncio
import http.client
import json
import urllib.parse

import pytest

from conftest import ADMIN_TOKEN
from test_gateway import Server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON_ROUTES = [("POST", "/api/v1/rollouts"), ("POST", "/api/v1/assignments"), ("PUT", "/api/v1/groups/g"),
               ("POST", "/api/v1/agents/commands"), ("POST", "/api/v1/access-tokens"), ("POST", "/api/v1/tokens"),
               ("POST", "/api/v1/configs/c/versions")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server("--database", f"sqlite:{tmp_path_factory.mktemp('bad') / 'bad.db'}")
    yield s
    assert s.stop() == 0


def call(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    conn.request(method, path, body=body, headers={**AUTH, "Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, json.loads(raw) if "json" in (r.getheader("Content-Type") or "") and raw else raw


def refused(status, body, code=None):
    assert 400 <= status < 500, (status, body)
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


@pytest.mark.parametrize("method, path", JSON_ROUTES)
def test_malformed_json_wrong_types_and_unknown_fields(server, method, path):
    for raw in (b"{", b"[]", b"\"text\"", b"null", b"\xff\xfe", b"{\"a\": 1,}"):
        status, body = call(server, method, path, raw)
        refused(status, body)
    status, body = call(server, method, path, json.dumps({"surprise": 1}).encode())
    assert "surprise" in refused(status, body), "an unknown field is named"


def test_wrong_types_are_named(server):
    cases = [
        ("POST", "/api/v1/rollouts", {"config": 7, "version": 1, "target": {"uids": []}}, "config"),
        ("POST", "/api/v1/rollouts", {"config": "c", "version": "one", "target": {"uids": []}}, "version"),
        ("POST", "/api/v1/rollouts", {"config": "c", "version": 1, "target": "everyone"}, "target"),
        ("POST", "/api/v1/assignments", {"config": "c", "selector": ["a"]}, "selector"),
        ("PUT", "/api/v1/groups/g", {"selector": {"env": 1}}, "env"),
        ("POST", "/api/v1/access-tokens", {"role": "root"}, "role"),
        ("POST", "/api/v1/access-tokens", {"role": "viewer", "expiresInSeconds": -5}, "expiresInSeconds"),
        ("POST", "/api/v1/tokens", {"uses": "many"}, "uses"),
        ("POST", "/api/v1/agents/commands", {"command": "explode", "selector": {}}, "command"),
    ]
    for method, path, body, field in cases:
        status, answer = call(server, method, path, json.dumps(body).encode())
        assert field in refused(status, answer), (path, body, answer)


def test_a_100_mb_body_is_refused_with_413_without_reading_it_all(server):
    size = 100 << 20
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    conn.putrequest("POST", "/api/v1/configs/big/versions")
    for name, value in {**AUTH, "Content-Type": "application/json", "Content-Length": str(size)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    chunk = b"x" * (1 << 20)
    try:
        for _ in range(100):
            conn.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the rest arrived
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 413 and body["error"]["code"] == "too_large"
    assert call(server, "GET", "/api/v1/configs")[0] == 200


def test_names_with_unicode_or_traversal_are_refused_clearly(server):
    for name in ("日本語", "naïve", "a b", "..", ".", "a/b", "a%00b", "x" * 129):
        path = "/api/v1/groups/" + urllib.parse.quote(name, safe="")
        status, body = call(server, "PUT", path, b'{"selector": {}}')
        assert status in (400, 404, 422), (name, status, body)
        if isinstance(body, dict):
            refused(status, body)
        status, body = call(server, "PUT", "/api/v1/configs/" + urllib.parse.quote(name, safe=""), b"a: 1\n",
                            {"Content-Type": "text/yaml"})
        assert status in (400, 404, 422), (name, status)
    for path in ("/api/v1/configs/../../etc/passwd", "/api/v1/configs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 "/api/v1/../../../etc/passwd", "/api/v1/configs/..%2F..%2Fetc/versions"):
        status, body = call(server, "GET", path)
        assert status in (400, 404), (path, status)
        assert b"root:" not in (body if isinstance(body, bytes) else json.dumps(body).encode())
    # Unicode where free text is allowed round-trips.
    status, made = call(server, "POST", "/api/v1/access-tokens", json.dumps({"role": "viewer", "name": "Zoë 日本"}).encode())
    assert status == 201 and made["name"] == "Zoë 日本"


def test_ten_thousand_requests_at_once(server):
    async def one(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        path = "/api/v1/agents?limit=1" if i % 2 else "/api/v1/nothing"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readline()
        await reader.read()
        writer.close()
        return int(head.split()[1])

    async def main():
        limit = asyncio.Semaphore(2000)

        async def bounded(i):
            async with limit:
                try:
                    return await asyncio.wait_for(one(i), 120)
                except (OSError, asyncio.TimeoutError) as e:
                    return repr(e)

        return await asyncio.gather(*(bounded(i) for i in range(10_000)))

    statuses = asyncio.run(main())
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert counts.get(200, 0) == 5000 and counts.get(404, 0) == 5000, counts
    assert call(server, "GET", "/api/v1/whoami")[0] == 200
