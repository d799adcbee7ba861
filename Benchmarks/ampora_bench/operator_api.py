"""The operator API contract (README, `ampora serve`) that the push scenario drives:

    PUT  /api/v1/configs/{name}     text/yaml body        -> {"name", "hash"}
    POST /api/v1/assignments        {"config", "selector"} -> {"id", "config", "hash"}
    GET  /api/v1/assignments/{id}                          -> {"id", "targets", "applied",
                                                               "applying", "failed", "pending"}
"""
import json
import urllib.error
import urllib.request

from .servers import BenchError, check_loopback


def server_ms(header):
    """The `dur` of a `Server-Timing: app;dur=12.3` header, in milliseconds (None without one)."""
    for part in (header or "").split(";"):
        if part.strip().startswith("dur="):
            try:
                return float(part.strip()[4:])
            except ValueError:
                return None
    return None


class OperatorAPI:
    def __init__(self, hostport, timeout=10.0, token=None):
        check_loopback(hostport)
        self.base = "http://%s" % hostport
        self.timeout = timeout
        self.token = token
        self.last_server_ms = None

    def _call(self, method, path, body=None, content_type=None, timeout=None):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer %s" % self.token)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                self.last_server_ms = server_ms(resp.headers.get("Server-Timing"))
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()[:500].decode(errors="replace")
            if e.code in (404, 405):
                raise BenchError(
                    "%s %s answered %d: this server has no Fleet operator API (it needs PUT "
                    "/api/v1/configs/{name}, POST /api/v1/assignments, GET /api/v1/assignments/{id}); "
                    "the push scenario needs it. Body: %s" % (method, path, e.code, text.strip()))
            raise BenchError("%s %s answered %d: %s" % (method, path, e.code, text.strip()))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise BenchError("%s %s failed: %s" % (method, path, e))

    def page(self, path, timeout=None):
        """GETs a web UI page (HTML) with the token; returns (status, body size)."""
        req = urllib.request.Request(self.base + path, method="GET")
        if self.token:
            req.add_header("Authorization", "Bearer %s" % self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                self.last_server_ms = server_ms(resp.headers.get("Server-Timing"))
                return resp.status, len(resp.read())
        except urllib.error.HTTPError as e:
            raise BenchError("GET %s answered %d: %s" % (path, e.code, e.read()[:300].decode(errors="replace")))
        except (urllib.error.URLError, OSError) as e:
            raise BenchError("GET %s failed: %s" % (path, e))

    def put_config(self, name, yaml_text):
        status, obj = self._call("PUT", "/api/v1/configs/%s" % name, yaml_text.encode(), "text/yaml")
        if not isinstance(obj, dict) or not isinstance(obj.get("hash"), str):
            raise BenchError("PUT /api/v1/configs/%s: expected {\"name\", \"hash\"}, got %r" % (name, obj))
        return obj

    def assign(self, config, selector=None):
        body = json.dumps({"config": config, "selector": selector or {}}).encode()
        status, obj = self._call("POST", "/api/v1/assignments", body, "application/json")
        if not isinstance(obj, dict) or "id" not in obj:
            raise BenchError("POST /api/v1/assignments: expected {\"id\", ...}, got %r" % (obj,))
        return obj

    def rollout(self, body):
        # Creating a rollout stores every target as a member before it answers: a million take seconds.
        status, obj = self._call("POST", "/api/v1/rollouts", json.dumps(body).encode(), "application/json",
                                 timeout=120.0)
        if not isinstance(obj, dict) or "id" not in obj:
            raise BenchError("POST /api/v1/rollouts: expected {\"id\", ...}, got %r" % (obj,))
        return obj

    def rollout_status(self, ident):
        status, obj = self._call("GET", "/api/v1/rollouts/%s" % ident)
        if not isinstance(obj, dict) or not isinstance(obj.get("counts"), dict):
            raise BenchError("GET /api/v1/rollouts/%s: expected a rollout with counts, got %r" % (ident, obj))
        return obj

    def assignment(self, ident):
        status, obj = self._call("GET", "/api/v1/assignments/%s" % ident)
        keys = ("targets", "applied", "applying", "failed", "pending")
        if not isinstance(obj, dict) or any(not isinstance(obj.get(k), int) for k in keys):
            raise BenchError("GET /api/v1/assignments/%s: expected integer %s, got %r" % (ident, keys, obj))
        return obj


def push_config_yaml(size=4096):
    """A collector config of about `size` bytes (the hash is the server's to compute)."""
    head = ("receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\n"
            "processors:\n  batch:\n    timeout: 2s\n  attributes/bench:\n    actions:\n")
    tail = ("exporters:\n  otlphttp:\n    endpoint: https://telemetry.example.internal:4318\n"
            "service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n"
            "      processors: [batch, attributes/bench]\n      exporters: [otlphttp]\n")
    lines, i = [], 0
    while len(head) + len(tail) + sum(map(len, lines)) < size:
        lines.append("      - key: bench.attr.%03d\n        value: pushed-by-ampora-bench\n        action: upsert\n" % i)
        i += 1
    return head + "".join(lines) + tail
