"""The OpenAPI document (Sources/Web/openapi.json) against the real server: served as committed,
valid OpenAPI 3.1, and what the server answers conforms to it (schemathesis, with the admin
token, over every operation but the endless event stream).

Which routes the document covers is checked in Swift (Tests/WebTests/OpenAPITests.swift), on the
router itself.
"""
import http.client
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest
from openapi_spec_validator import validate

from conftest import ADMIN_TOKEN, ROOT
from test_fleet import api
from test_gateway import Server
from test_rollouts import BASE, Fleet, publish, variant

DOCUMENT = ROOT / "Sources/Web/openapi.json"
# A failure is a 5xx, or a status, content type, header or body the document does not describe.
# `negative_data_rejection` and `positive_data_acceptance` would judge the input validation,
# which the document describes as far as JSON Schema can (not rules such as growing stage
# percentages): run them by hand with AMPORA_SCHEMATHESIS_ARGS="--checks ...".
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
# Per operation: the whole run takes about 15 s on two cores with a debug build.
MAX_EXAMPLES = int(os.environ.get("AMPORA_SCHEMATHESIS_EXAMPLES", "25"))
# A fixed seed replays the same exploration each run, so a red run is reproducible; set
# AMPORA_SCHEMATHESIS_SEED to explore elsewhere.
SEED = os.environ.get("AMPORA_SCHEMATHESIS_SEED", "1")


@pytest.fixture(scope="module")
def server():
    # Agents stay connected (without heartbeats) for the whole schemathesis run.
    s = Server("--idle-timeout", "900")
    yield s
    assert s.stop() == 0


def get(server, path):
    """A GET without a token (conftest's opener would add one)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def test_the_served_document_is_the_committed_file_and_valid_openapi(server):
    status, ctype, body = get(server, "/api/v1/openapi.json")
    assert status == 200, "served without a token"
    assert ctype == "application/json"
    assert body == DOCUMENT.read_bytes(), "the binary embeds a stale openapi.json: rebuild"
    document = json.loads(body)
    validate(document)
    assert document["openapi"].startswith("3.1.")
    bearer = document["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    session = document["components"]["securitySchemes"]["session"]
    assert (session["type"], session["in"], session["name"]) == ("apiKey", "cookie", "ampora_session")
    assert document["security"] == [{"bearer": []}, {"session": []}]


def test_every_error_shape_is_the_shared_one():
    """Every non-2xx JSON answer refers to components.schemas.Error, defined once."""
    document = json.loads(DOCUMENT.read_text())
    responses = document["components"]["responses"]

    def resolve(response):
        ref = response.get("$ref")
        return responses[ref.rsplit("/", 1)[1]] if ref else response

    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                content = resolve(response).get("content", {})
                if status.startswith(("4", "5")) and "application/json" in content:
                    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                        method, path, status)


def test_an_enrollment_token_for_ever_is_refused_not_a_crash(server):
    """An expiry in milliseconds past Int64 overflowed and killed the server."""
    status, body = api(server, "POST", "/api/v1/tokens", {"expiresInSeconds": 10**16})
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    status, body = api(server, "POST", "/api/v1/tokens", {"expiresInSeconds": 315360000})
    assert status == 201, body
    assert server.proc.poll() is None


def seed(server, fleet):
    """Resources for the document's path parameters to name: without them every lookup is a
    404 and the success shapes would go unchecked. Returns a value per path parameter."""
    publish(server, "gateway", BASE)
    status, body = api(server, "POST", "/api/v1/configs/gateway/versions",
                       {"files": {"collector.yaml": {"body": variant("second").decode()}}, "message": "second"})
    assert status == 201, body
    status, body = api(server, "POST", "/api/v1/configs/gateway/versions",
                       {"files": {"collector.yaml": {"body": variant("draft").decode()}}, "draft": True})
    assert status == 201, body
    status, body = api(server, "PUT", "/api/v1/groups/edge", {"selector": {"env": "edge"}, "description": "edge"})
    assert status == 200, body
    status, assignment = api(server, "POST", "/api/v1/assignments", {"config": "gateway", "selector": {"env": "prod"}})
    assert status == 201, assignment
    status, rollout = api(server, "POST", "/api/v1/rollouts",
                          {"config": "gateway", "version": 1, "target": {"group": "edge"}, "stages": [{"count": 1}]})
    assert status == 201, rollout
    status, token = api(server, "POST", "/api/v1/access-tokens", {"role": "viewer", "name": "doomed"})
    assert status == 201, token
    return {
        "uid": str(uuid.UUID(bytes=fleet.agents[0].uid)), "config": "gateway", "group": "edge", "version": 1,
        "other": 2, "rollout": rollout["id"], "assignment": assignment["id"], "token": token["id"],
    }


def with_examples(document, values):
    """The document with the seeded resources as examples of its path parameters, and bodies
    that can succeed as examples of the bodies that random data hardly satisfies (the examples
    phase tries them); nothing else changes."""
    document = json.loads(json.dumps(document))
    parameters = document["components"]["parameters"]
    parameters["uid"]["schema"]["examples"] = [values["uid"]]
    parameters["configName"]["schema"]["examples"] = [values["config"]]
    parameters["groupName"]["schema"]["examples"] = [values["group"]]
    parameters["version"]["schema"]["examples"] = [values["version"]]
    parameters["rolloutId"]["schema"]["examples"] = [values["rollout"]]
    bodies = {
        ("put", "/api/v1/configs/{name}"): ("text/yaml", variant("put").decode()),
        ("post", "/api/v1/configs/{name}/versions"): (
            "application/json", {"files": {"collector.yaml": {"body": variant("posted").decode()}}, "message": "m"}),
        ("post", "/api/v1/rollouts"): (
            "application/json", {"config": values["config"], "version": values["version"],
                                 "target": {"group": values["group"]}, "stages": [{"percent": 50}]}),
    }
    for (method, path), (media, value) in bodies.items():
        document["paths"][path][method]["requestBody"]["content"][media]["examples"] = {"seeded": {"value": value}}
    # A YAML media type makes schemathesis send the string as a YAML scalar; text/plain is sent
    # as it is, a config.
    document["paths"]["/api/v1/configs/{name}"]["put"]["requestBody"]["content"]["text/plain"]["examples"] = {
        "seeded": {"value": variant("plain").decode()}}
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path":
                    continue
                name = parameter["name"]
                if name == "other":
                    parameter["schema"]["examples"] = [values["other"]]
                elif name == "id" and path.startswith("/api/v1/assignments/"):
                    parameter["schema"]["examples"] = [values["assignment"]]
                elif name == "id" and path.startswith("/api/v1/access-tokens/"):
                    parameter["schema"]["examples"] = [values["token"]]
    return document


def schemathesis(server, schema, *options):
    """Runs schemathesis on `schema` against the server; returns (exit code, output, seconds)."""
    st = pathlib.Path(sys.executable).parent / "schemathesis"
    command = [
        str(st), "--no-color", "run", str(schema), "--url", f"http://127.0.0.1:{server.http_port}",
        "--header", f"Authorization: Bearer {ADMIN_TOKEN}", "--checks", ",".join(CHECKS),
        # Stateful testing chains operations through links; the event stream never ends.
        "--phases", "examples,coverage,fuzzing", "--exclude-path", "/api/v1/events",
        "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--generation-database", "none",
        "--request-timeout", "20", "--suppress-health-check", "all", *options,
        # More options for a run by hand, e.g. `--report har --report-dir /tmp/st`.
        *os.environ.get("AMPORA_SCHEMATHESIS_ARGS", "").split(),
    ]
    started = time.monotonic()
    run = subprocess.run(command, cwd=schema.parent, capture_output=True, text=True, timeout=900)
    return run.returncode, run.stdout + run.stderr, time.monotonic() - started


def test_the_server_conforms_to_the_document(server, tmp_path):
    fleet = Fleet(server, ["prod", "edge"])
    try:
        values = seed(server, fleet)
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(with_examples(json.loads(DOCUMENT.read_text()), values)))
        # Schemathesis reuses values it saw in answers: given the ids that GET /access-tokens
        # lists, it would revoke the token it runs with. Revocation runs alone, on ids it
        # makes up and the seeded token's.
        revoke = ["--include-operation-id", "revokeAccessToken"]
        for options in (["--exclude-operation-id", "revokeAccessToken"], revoke):
            code, output, took = schemathesis(server, schema, *options)
            print(f"schemathesis {' '.join(options)}: {took:.0f} s\n" + output[-3000:])
            assert code == 0, f"schemathesis found failures ({took:.0f} s):\n{output[-20000:]}"
    finally:
        fleet.close()
