"""OpenID Connect on the real binary against a real (small) provider: bearer JWTs mapped to
roles, every way a JWT can be wrong refused, a rotated key picked up, and the browser login
(authorization code with PKCE) ending in a session cookie whose changes need the CSRF token.
"""
import http.client
import json
import ssl
import time
import urllib.parse

import pytest

from oidc_provider import Provider, new_key
from test_gateway import Server
from test_tls import client_context, fixture

ROLES = ["--oidc-role", "ampora-admins=admin", "--oidc-role", "ampora-ops=operator",
         "--oidc-role", "ampora-readers=viewer"]


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.close()


def start(provider, tmp_path, *extra):
    return Server("--database", f"sqlite:{tmp_path / 'oidc.db'}", "--oidc-issuer", provider.issuer,
                  "--oidc-client-id", provider.client_id, *ROLES, *extra)


def call(server, method, path, token=None, headers=None, body=None, tls=False):
    conn = (http.client.HTTPSConnection("localhost", server.http_port, timeout=20, context=client_context()) if tls
            else http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=20))
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=sent)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    parsed = json.loads(raw) if raw and "json" in (r.getheader("Content-Type") or "") else raw
    return r.status, r, parsed


def test_bearer_jwts_are_verified_and_mapped_to_roles(provider, tmp_path):
    server = start(provider, tmp_path)
    try:
        status, _, me = call(server, "GET", "/api/v1/whoami", provider.mint())
        assert status == 200 and me == {"name": "oidc:alice", "role": "admin"}
        reader = provider.mint({"sub": "bob", "preferred_username": "bob", "groups": ["ampora-readers", "x"]})
        assert call(server, "GET", "/api/v1/agents", reader)[0] == 200
        status, _, body = call(server, "PUT", "/api/v1/groups/g", reader, {"Content-Type": "application/json"},
                               b'{"selector": {}}')
        assert status == 403 and body["error"]["code"] == "forbidden"
        both = provider.mint({"sub": "carol", "groups": ["ampora-readers", "ampora-ops"]})
        assert call(server, "GET", "/api/v1/whoami", both)[2]["role"] == "operator", "the strongest role wins"
        status, _, body = call(server, "GET", "/api/v1/agents", provider.mint({"sub": "eve", "groups": ["other"]}))
        assert status == 403 and body["error"]["code"] == "no_role"

        def refused(token, says):
            status, r, body = call(server, "GET", "/api/v1/agents", token)
            assert status == 401, (says, status, body)
            assert says in body["error"]["message"], body
            assert 'error="invalid_token"' in r.getheader("WWW-Authenticate")

        refused(provider.mint(expires_in=-60), "expired")
        refused(provider.mint(audience="someone-else"), "another audience")
        refused(provider.mint(iss="http://127.0.0.1:1"), "another issuer")
        head, payload, signature = provider.mint().split(".")
        forged = json.loads(urllib.parse.unquote(
            __import__("base64").urlsafe_b64decode(payload + "==").decode()))
        forged["groups"] = ["ampora-admins"]
        forged["sub"] = "mallory"
        tampered = __import__("base64").urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        refused(f"{head}.{tampered}.{signature}", "signature")
        unsigned = __import__("base64").urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
        status, _, _ = call(server, "GET", "/api/v1/agents", f"{unsigned}.{payload}.")
        assert status == 401, "alg none is never accepted"

        # A key the provider does not publish: refused, and the JWKS is fetched again at most
        # once every 10 s however many such tokens arrive.
        fetches = provider.jwks_fetches
        stranger = new_key("k9")
        for _ in range(3):
            refused(provider.mint(key=stranger), "key the provider does not publish")
        assert provider.jwks_fetches - fetches <= 1

        # The provider rotates its keys: a token with the new key id makes the server fetch again.
        provider.keys.append(new_key("k2"))
        time.sleep(10.5)
        status, _, me = call(server, "GET", "/api/v1/whoami", provider.mint(key=provider.keys[1]))
        assert status == 200 and me["name"] == "oidc:alice"

        # A change made with a JWT names its subject in the audit trail.
        ops = provider.mint({"sub": "dave", "preferred_username": "dave", "groups": ["ampora-ops"]})
        assert call(server, "PUT", "/api/v1/groups/edge", ops, {"Content-Type": "application/json"},
                    b'{"selector": {"env": "edge"}}')[0] in (200, 201)
        _, _, audit = call(server, "GET", "/api/v1/audit?action=group.put", provider.mint())
        assert audit["items"][0]["actor"] == "oidc:dave" and audit["items"][0]["role"] == "operator"
    finally:
        assert server.stop() == 0


def cookies(response):
    return {h.split("=", 1)[0]: h for h in response.headers.get_all("Set-Cookie") or []}


def browser_login(server, provider, tls=False, next_path="/api/v1/whoami"):
    """Walks the browser's redirects by hand; returns (session id, CSRF token, callback response)."""
    status, r, _ = call(server, "GET", "/auth/login?next=" + urllib.parse.quote(next_path), tls=tls)
    assert status == 302, status
    login_cookie = cookies(r)["ampora_login"]
    assert "HttpOnly" in login_cookie and "SameSite=Lax" in login_cookie
    to_provider = urllib.parse.urlsplit(r.getheader("Location"))
    query = dict(urllib.parse.parse_qsl(to_provider.query))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    conn = http.client.HTTPConnection(to_provider.hostname, to_provider.port, timeout=20)
    conn.request("GET", to_provider.path + "?" + to_provider.query)
    back = conn.getresponse()
    back.read()
    assert back.status == 302
    callback = urllib.parse.urlsplit(back.getheader("Location"))
    state = login_cookie.split(";")[0]
    status, r, body = call(server, "GET", callback.path + "?" + callback.query, headers={"Cookie": state}, tls=tls)
    assert status == 303, body
    assert r.getheader("Location") == next_path
    set = cookies(r)
    session = set["ampora_session"].split(";")[0].split("=", 1)[1]
    csrf = set["ampora_csrf"].split(";")[0].split("=", 1)[1]
    return session, csrf, r, callback


def test_the_browser_login_makes_a_session_that_needs_its_csrf_token(provider, tmp_path):
    server = start(provider, tmp_path)
    try:
        session, csrf, r, callback = browser_login(server, provider)
        jar = cookies(r)
        assert "HttpOnly" in jar["ampora_session"] and "SameSite=Strict" in jar["ampora_session"]
        assert "Secure" not in jar["ampora_session"], "no Secure flag without TLS"
        assert "HttpOnly" not in jar["ampora_csrf"], "the page reads the CSRF token"
        cookie = {"Cookie": f"ampora_session={session}"}
        status, _, me = call(server, "GET", "/api/v1/whoami", headers=cookie)
        assert status == 200 and me == {"name": "oidc:alice", "role": "admin"}

        change = {**cookie, "Content-Type": "application/json"}
        status, _, body = call(server, "PUT", "/api/v1/groups/web", headers=change, body=b'{"selector": {}}')
        assert status == 403 and body["error"]["code"] == "csrf_failed"
        status, _, body = call(server, "PUT", "/api/v1/groups/web", headers={**change, "X-CSRF-Token": "guess"},
                               body=b'{"selector": {}}')
        assert status == 403
        status, _, _ = call(server, "PUT", "/api/v1/groups/web", headers={**change, "X-CSRF-Token": csrf},
                            body=b'{"selector": {}}')
        assert status in (200, 201)

        # The code and state are spent: replaying the callback signs nobody in.
        status, _, body = call(server, "GET", callback.path + "?" + callback.query,
                               headers={"Cookie": "ampora_login=" + dict(urllib.parse.parse_qsl(callback.query))["state"]})
        assert status == 401 and body["error"]["code"] == "login_failed"
        # Without the login cookie the state is not this browser's.
        status, _, _ = call(server, "GET", "/auth/callback?code=x&state=y")
        assert status == 401
        # An open redirect is not possible.
        status, r, _ = call(server, "GET", "/auth/login?next=//evil.example/")
        assert status == 302
        provider_user = dict(provider.user)
        provider.user = {"sub": "eve", "groups": ["nobody"]}
        status, r2, _ = call(server, "GET", "/auth/login")
        to_provider = urllib.parse.urlsplit(r2.getheader("Location"))
        conn = http.client.HTTPConnection(to_provider.hostname, to_provider.port, timeout=20)
        conn.request("GET", to_provider.path + "?" + to_provider.query)
        back = urllib.parse.urlsplit(conn.getresponse().getheader("Location"))
        state = cookies(r2)["ampora_login"].split(";")[0]
        status, _, body = call(server, "GET", back.path + "?" + back.query, headers={"Cookie": state})
        assert status == 401 and "no Ampora role" in body["error"]["message"]
        provider.user = provider_user

        assert call(server, "POST", "/auth/logout", headers=cookie)[0] == 403, "logout needs the CSRF token too"
        assert call(server, "POST", "/auth/logout", headers={**cookie, "X-CSRF-Token": csrf})[0] == 204
        assert call(server, "GET", "/api/v1/whoami", headers=cookie)[0] == 401

        _, _, audit = call(server, "GET", "/api/v1/audit?action=login", provider.mint())
        outcomes = {(i["actor"], i["outcome"]) for i in audit["items"]}
        assert ("oidc:alice", "ok") in outcomes and ("anonymous", "denied") in outcomes
    finally:
        assert server.stop() == 0


def test_session_cookies_are_secure_over_tls(provider, tmp_path):
    server = start(provider, tmp_path, "--http-tls-cert", fixture("server.pem"), "--http-tls-key",
                   fixture("server.key"))
    try:
        _, _, r, _ = browser_login(server, provider, tls=True)
        assert all("Secure" in c for c in cookies(r).values() if "Max-Age=0" not in c)
    finally:
        assert server.stop() == 0


def test_oidc_flags_are_checked(tmp_path):
    import subprocess
    from conftest import bin_dir
    for args, says in [(["--oidc-issuer", "https://id.example"], "--oidc-client-id"),
                       (["--oidc-issuer", "https://id.example", "--oidc-client-id", "x"], "--oidc-role"),
                       (["--oidc-issuer", "https://id.example", "--oidc-client-id", "x", "--oidc-role", "g=root"],
                        "g=root"),
                       (["--oidc-issuer", "ftp://id", "--oidc-client-id", "x", "--oidc-role", "g=admin"], "https://"),
                       (["--oidc-role", "g=admin"], "--oidc-issuer")]:
        out = subprocess.run([str(bin_dir() / "ampora"), "serve", "--database", f"sqlite:{tmp_path / 'f.db'}",
                              *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 64 and says in out.stderr, (args, out.stderr)
