"""A small OpenID Connect provider for the tests, on loopback: discovery, a JWKS, an
authorization endpoint that signs in whoever the test says (no login page), and a token endpoint
that checks the PKCE verifier. Tokens are signed with joserfc (RS256).
"""
import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


def new_key(kid):
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


class Provider:
    def __init__(self, client_id="ampora-ui"):
        self.client_id = client_id
        self.keys = [new_key("k1")]
        self.user = {"sub": "alice", "preferred_username": "alice", "groups": ["ampora-admins"]}
        self.codes = {}
        self.jwks_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def mint(self, claims=None, key=None, audience=None, expires_in=300, **extra):
        """A signed JWT for the current user (or `claims`), as a bearer token or an ID token."""
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.issuer, "aud": audience or self.client_id, "iat": now, "exp": now + expires_in,
                **(claims or self.user), **extra}
        return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/jwks",
                                     "authorization_endpoint": provider.issuer + "/authorize",
                                     "token_endpoint": provider.issuer + "/token",
                                     "response_types_supported": ["code"], "subject_types_supported": ["public"],
                                     "id_token_signing_alg_values_supported": ["RS256"],
                                     "code_challenge_methods_supported": ["S256"]})
                elif url.path == "/jwks":
                    provider.jwks_fetches += 1
                    self._json(200, KeySet(provider.keys).as_dict(private=False))
                elif url.path == "/authorize":
                    assert query["response_type"] == "code" and query["client_id"] == provider.client_id
                    assert query["code_challenge_method"] == "S256"
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = dict(query, user=dict(provider.user))
                    target = query["redirect_uri"] + "?" + urllib.parse.urlencode(
                        {"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                grant = provider.codes.pop(form.get("code"), None)
                if self.path != "/token" or grant is None:
                    return self._json(400, {"error": "invalid_grant"})
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
                if challenge != grant["code_challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE or redirect"})
                token = provider.mint(grant["user"], nonce=grant["nonce"])
                self._json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "id_token": token, "expires_in": 300})

        return Handler
