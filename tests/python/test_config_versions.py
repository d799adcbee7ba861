"""Config versions on the real binary: file maps checked by the Toolkit on publish, with the
findings `ampora-tool lint --format json` prints; drafts, publication, the diff and graph of
`ampora-tool diff`/`graph`, If-Match, the bounds, and nothing half-written on any error.
"""
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import bin_dir
from test_fleet import COLLECTOR_CONFIG, backends, fresh_database, sql
from test_gateway import Server

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "Tests/ToolkitTests/Fixtures/corpus"
YAML_ERROR = CORPUS / "starkross__augur__testdata__invalid.yaml"
UNKNOWN_COMPONENT = CORPUS / "open-telemetry__opentelemetry-collector__otelcol__testdata__otelcol-invalid-receiver-type.yaml"
VALID = CORPUS / "DataDog__opentelemetry-examples__configurations__opentelemetry-collector__minimal-config.yaml"
VALID_2 = CORPUS / "DataDog__opentelemetry-examples__configurations__opentelemetry-collector__multiple-pipelines.yaml"
RECEIVERS = b"receivers:\n  otlp:\n    protocols:\n      grpc: {}\n"
PIPELINES = (b"exporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n"
             b"      exporters: [debug]\n")
FINDING_KEYS = {"rule", "severity", "message", "file", "line", "column", "path"}
MAX_CONFIG_BYTES = 4 << 20


def call(server, method, path, body=None, headers=None):
    """Calls the operator API; returns (status, headers, parsed JSON or text). Linting a large
    config takes seconds in a debug build, hence the long timeout."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    ctype = hdrs.get("Content-Type", "")
    return status, hdrs, json.loads(raw) if "json" in ctype else raw.decode()


def put(server, name, body, headers=None):
    return call(server, "PUT", f"/api/v1/configs/{name}", body, {"Content-Type": "text/yaml", **(headers or {})})


def post_version(server, name, files, headers=None, **fields):
    body = {"files": {n: {"body": b.decode() if isinstance(b, bytes) else b} for n, b in files.items()}, **fields}
    return call(server, "POST", f"/api/v1/configs/{name}/versions", body, headers)


def tool(*args, cwd):
    return subprocess.run([str(bin_dir() / "ampora-tool"), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def lint(tmp_path, files):
    """`ampora-tool lint --format json` over `files` (name -> bytes) written into a fresh directory."""
    where = tmp_path / f"lint-{time.monotonic_ns()}"
    where.mkdir()
    for name, body in files.items():
        (where / name).write_bytes(body)
    out = tool("lint", "--format", "json", *sorted(files), cwd=where)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)["findings"]


def same_findings(ours, theirs):
    """Equal as sets of findings (the server puts errors first; lint orders by position)."""
    key = lambda f: json.dumps(f, sort_keys=True)  # noqa: E731
    return sorted(map(key, ours)) == sorted(map(key, theirs))


def counts(database):
    """Rows a config change leaves behind."""
    return (int(sql(database, "SELECT COUNT(*) FROM config_versions")[0][0]),
            int(sql(database, "SELECT COUNT(*) FROM blobs WHERE kind = 'config'")[0][0]),
            sorted(tuple(map(str, r)) for r in sql(database, "SELECT name, hash, version FROM configs")))


@pytest.fixture(params=backends())
def served(request, tmp_path):
    database = fresh_database(request.param, tmp_path)
    server = Server("--database", database)
    yield server, database
    assert server.stop() == 0


@pytest.fixture
def server(tmp_path):
    s = Server("--database", f"sqlite:{tmp_path / 'v.db'}")
    yield s
    assert s.stop() == 0


@pytest.mark.parametrize("path, rule", [(YAML_ERROR, "yaml-syntax"), (UNKNOWN_COMPONENT, "unknown-component-type")])
def test_lint_errors_refuse_publishing_with_the_findings_lint_prints(served, tmp_path, path, rule):
    server, database = served
    body = path.read_bytes()
    status, _, reply = put(server, "refused", body)
    assert status == 422, reply
    assert reply["error"]["code"] == "invalid_config" and reply["error"]["message"]
    findings = reply["error"]["findings"]
    assert findings and all(set(f) == FINDING_KEYS for f in findings)
    assert findings[0]["severity"] == "error" and rule in {f["rule"] for f in findings}
    # PUT's one file is named "": the same findings as lint's, in that file.
    assert same_findings(findings, [{**f, "file": ""} for f in lint(tmp_path, {"x.yaml": body})])

    status, _, reply = post_version(server, "refused", {"collector.yaml": body}, message="try")
    assert status == 422 and reply["error"]["code"] == "invalid_config"
    assert same_findings(reply["error"]["findings"], lint(tmp_path, {"collector.yaml": body}))

    assert call(server, "GET", "/api/v1/configs/refused")[0] == 404
    assert call(server, "GET", "/api/v1/configs/refused/versions")[0] == 404
    assert counts(database) == (0, 0, [])


def test_multi_file_configs_merge_in_file_name_order(served, tmp_path):
    server, database = served
    # Alone, the pipelines file names a receiver nobody declares.
    status, _, reply = post_version(server, "split", {"pipelines.yaml": PIPELINES})
    assert status == 422 and "undeclared-component" in {f["rule"] for f in reply["error"]["findings"]}
    status, headers, reply = post_version(server, "split", {"20-pipelines.yaml": PIPELINES,
                                                            "10-receivers.yaml": RECEIVERS})
    assert status == 201, reply
    assert same_findings(reply["findings"], lint(tmp_path, {"20-pipelines.yaml": PIPELINES,
                                                            "10-receivers.yaml": RECEIVERS}))
    assert headers["Location"] == "/api/v1/configs/split/versions/1"
    status, _, version = call(server, "GET", "/api/v1/configs/split/versions/1")
    assert sorted(version["files"]) == ["10-receivers.yaml", "20-pipelines.yaml"]
    assert version["files"]["10-receivers.yaml"] == {"body": RECEIVERS.decode(), "contentType": "text/yaml"}

    # The later file wins where both set a list: only the order of the names decides.
    good = b"service:\n  pipelines:\n    traces:\n      exporters: [debug]\n"
    bad = b"service:\n  pipelines:\n    traces:\n      exporters: [nowhere]\n"
    broken = {"a.yaml": COLLECTOR_CONFIG, "c.yaml": bad, "b.yaml": good}
    status, _, reply = post_version(server, "order", broken)
    assert status == 422, reply
    assert same_findings(reply["error"]["findings"], lint(tmp_path, broken))
    assert any(f["file"] == "c.yaml" and f["rule"] == "undeclared-component" for f in reply["error"]["findings"])
    fixed = {"a.yaml": COLLECTOR_CONFIG, "c.yaml": good, "b.yaml": bad}
    status, _, reply = post_version(server, "order", fixed)
    assert status == 201 and reply["version"] == 1, reply
    assert same_findings(reply["findings"], lint(tmp_path, fixed))

    # The same content, whatever order the JSON lists it in, is the same version.
    status, _, again = post_version(server, "order", dict(reversed(list(fixed.items()))))
    assert status == 200 and again["version"] == 1 and again["hash"] == reply["hash"]
    assert counts(database)[0] == 2


def test_drafts_publish_later_and_only_published_versions_are_assigned(served, tmp_path):
    server, database = served
    status, headers, first = put(server, "base", COLLECTOR_CONFIG)
    assert status == 200 and set(first) == {"name", "hash", "version"} and first["version"] == 1
    assert headers["ETag"] == '"v1"'

    # The author of a version is the name of the token that made it.
    bob, alice = ({"Authorization": "Bearer " + call(server, "POST", "/api/v1/access-tokens",
                                                      {"role": "operator", "name": name})[2]["token"]}
                  for name in ("bob", "alice"))
    status, _, draft = post_version(server, "base", {"otel.yaml": PIPELINES}, bob, message="wip", draft=True)
    assert status == 201 and draft["draft"] is True and draft["version"] == 2
    assert set(draft) == {"name", "version", "hash", "findings", "draft"}
    assert any(f["severity"] == "error" for f in draft["findings"]), "errors do not block a draft"
    status, _, refused = call(server, "POST", "/api/v1/configs/base/versions/2/publish")
    assert status == 422 and refused["error"]["code"] == "invalid_config" and refused["error"]["findings"]

    valid = VALID.read_bytes()
    status, _, good = post_version(server, "base", {"otel.yaml": valid}, alice, message="minimal", draft=True)
    assert status == 201 and good["version"] == 3 and good["draft"] is True
    assert same_findings(good["findings"], lint(tmp_path, {"otel.yaml": valid}))
    assert good["findings"], "warnings and notes are kept with the version"
    assert call(server, "GET", "/api/v1/configs/base")[2]["hash"] == first["hash"], "a draft is not current"
    status, _, assignment = call(server, "POST", "/api/v1/assignments", {"config": "base", "selector": {}})
    assert status == 201 and assignment["hash"] == first["hash"]

    status, headers, published = call(server, "POST", "/api/v1/configs/base/versions/3/publish")
    assert status == 200 and published["draft"] is False and published["version"] == 3
    assert headers["ETag"] == '"v3"'
    status, headers, current = call(server, "GET", "/api/v1/configs/base")
    assert current["hash"] == good["hash"] and current["version"] == 3 and headers["ETag"] == '"v3"'
    assert call(server, "POST", "/api/v1/assignments", {"config": "base", "selector": {}})[2]["hash"] == good["hash"]

    status, headers, listing = call(server, "GET", "/api/v1/configs/base/versions")
    assert status == 200 and headers["ETag"] == '"v3"' and listing["current"] == 3
    items = listing["items"]
    assert [i["version"] for i in items] == [3, 2, 1]
    assert [i["draft"] for i in items] == [False, True, False]
    assert [i["current"] for i in items] == [True, False, False]
    assert [i["author"] for i in items] == ["alice", "bob", "admin-token-file"]
    assert [i["message"] for i in items] == ["minimal", "wip", None]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", i["createdAt"]) for i in items)
    assert items[0]["findingsCount"] == len(good["findings"])
    assert call(server, "GET", "/api/v1/configs/base/versions?limit=1&before=3")[2]["items"][0]["version"] == 2

    status, headers, detail = call(server, "GET", "/api/v1/configs/base/versions/3")
    assert status == 200 and headers["ETag"] == '"v3"'
    assert detail["files"] == {"otel.yaml": {"body": valid.decode(), "contentType": "text/yaml"}}
    assert detail["findings"] == published["findings"] and detail["author"] == "alice"
    assert call(server, "GET", "/api/v1/configs/base/versions/1")[2]["files"] == {
        "": {"body": COLLECTOR_CONFIG.decode(), "contentType": "text/yaml"}}

    # The same content is the same version; it survives a restart.
    status, _, same = post_version(server, "base", {"otel.yaml": valid})
    assert status == 200 and same["version"] == 3
    server.stop()
    restarted = Server("--database", database)
    try:
        assert call(restarted, "GET", "/api/v1/configs/base/versions")[2]["items"] == items
        assert call(restarted, "GET", "/api/v1/configs/base")[2]["version"] == 3
    finally:
        assert restarted.stop() == 0


def test_diff_and_graph_are_ampora_tool_s(server, tmp_path):
    old, new = VALID.read_bytes(), VALID_2.read_bytes()
    assert put(server, "g", old)[0] == 200
    assert put(server, "g", new)[0] == 200
    (tmp_path / "old.yaml").write_bytes(old)
    (tmp_path / "new.yaml").write_bytes(new)

    status, headers, diff = call(server, "GET", "/api/v1/configs/g/versions/1/diff/2")
    expected = tool("diff", "--json", "old.yaml", "new.yaml", cwd=tmp_path)
    assert expected.returncode == 1, expected.stderr
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert diff == json.loads(expected.stdout) and diff["changes"]
    assert call(server, "GET", "/api/v1/configs/g/versions/2/diff/2")[2] == {"changes": []}

    status, headers, svg = call(server, "GET", "/api/v1/configs/g/versions/2/graph.svg")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert svg == tool("graph", "--format", "svg", "new.yaml", cwd=tmp_path).stdout and svg.startswith("<svg")
    status, headers, graph = call(server, "GET", "/api/v1/configs/g/versions/1/graph.json")
    assert status == 200 and graph == json.loads(tool("graph", "--format", "json", "old.yaml", cwd=tmp_path).stdout)
    assert graph["nodes"] and graph["edges"]

    assert call(server, "GET", "/api/v1/configs/g/versions/9/graph.svg")[0] == 404
    assert call(server, "GET", "/api/v1/configs/g/versions/x/graph.svg")[0] == 400
    assert call(server, "GET", "/api/v1/configs/g/versions/1/diff/0")[0] == 400
    assert call(server, "GET", "/api/v1/configs/nope/versions/1/diff/2")[0] == 404
    # A draft that does not parse has no graph.
    assert post_version(server, "g", {"x.yaml": YAML_ERROR.read_bytes()}, draft=True)[0] == 201
    status, _, reply = call(server, "GET", "/api/v1/configs/g/versions/3/graph.json")
    assert status == 422 and reply["error"]["code"] == "invalid_config"


def test_a_stale_if_match_gets_412_and_changes_nothing(served):
    server, database = served
    assert put(server, "m", COLLECTOR_CONFIG, {"If-Match": '"v1"'})[0] == 412, "no config: nothing matches"
    assert put(server, "m", COLLECTOR_CONFIG, {"If-Match": "*"})[0] == 412
    status, headers, _ = put(server, "m", COLLECTOR_CONFIG)
    tag = headers["ETag"]
    assert status == 200 and tag == '"v1"'
    assert call(server, "GET", "/api/v1/configs/m")[1]["ETag"] == tag
    assert call(server, "GET", "/api/v1/configs/m/versions/1")[1]["ETag"] == tag
    logs = COLLECTOR_CONFIG.replace(b"traces:", b"logs:")
    status, headers, second = post_version(server, "m", {"": logs}, {"If-Match": tag})
    assert status == 201 and headers["ETag"] == '"v2"'
    metrics = COLLECTOR_CONFIG.replace(b"traces:", b"metrics:")
    before = counts(database)
    for attempt in (lambda: post_version(server, "m", {"": metrics}, {"If-Match": tag}),
                    lambda: put(server, "m", metrics, {"If-Match": tag}),
                    lambda: put(server, "m", metrics, {"If-Match": 'W/"v2"'}),
                    lambda: call(server, "POST", "/api/v1/configs/m/versions/1/publish", None, {"If-Match": tag})):
        status, _, reply = attempt()
        assert status == 412, reply
        assert reply["error"]["code"] == "precondition_failed" and '"v2"' in reply["error"]["message"]
    assert counts(database) == before
    assert call(server, "GET", "/api/v1/configs/m")[2]["version"] == 2
    status, headers, _ = put(server, "m", metrics, {"If-Match": '"v2"'})
    assert status == 200 and headers["ETag"] == '"v3"'


def test_ten_thousand_files_are_a_clear_error_and_a_thousand_are_not(server):
    many = {f"f{i:05}.yaml": b"exporters: {debug: {}}\n" for i in range(10_000)}
    started = time.monotonic()
    status, _, reply = post_version(server, "many", many)
    assert status == 422 and reply["error"]["code"] == "too_many_files" and "1000" in reply["error"]["message"]
    assert time.monotonic() - started < 10
    assert call(server, "GET", "/api/v1/configs/many/versions")[0] == 404
    thousand = {f"f{i:04}.yaml": b"exporters: {debug: {}}\n" for i in range(1, 1000)}
    thousand["f0000.yaml"] = COLLECTOR_CONFIG
    status, _, reply = post_version(server, "many", thousand)
    assert status == 201, reply
    assert len(call(server, "GET", "/api/v1/configs/many/versions/1")[2]["files"]) == 1000


def test_the_size_limit_counts_every_file(server):
    half = (MAX_CONFIG_BYTES // 2) + 1
    padding = lambda n: b"#" * (n - 1) + b"\n"  # noqa: E731
    status, _, reply = post_version(server, "big", {"a.yaml": COLLECTOR_CONFIG + padding(half),
                                                    "b.yaml": padding(half)})
    assert status == 413 and reply["error"]["code"] == "config_too_large", reply
    # Far over: refused while the body is read.
    status, _, reply = call(server, "POST", "/api/v1/configs/big/versions", b'{"files": {"a": {"body": "'
                            + b"x" * (3 * MAX_CONFIG_BYTES) + b'"}}}')
    assert status == 413 and reply["error"]["code"] == "too_large"
    assert call(server, "GET", "/api/v1/configs/big/versions")[0] == 404
    # Exactly at the limit is accepted.
    exact = {"a.yaml": COLLECTOR_CONFIG, "b.yaml": padding(MAX_CONFIG_BYTES - len(COLLECTOR_CONFIG))}
    status, _, reply = post_version(server, "big", exact)
    assert status == 201, reply


def test_nothing_is_half_written_on_any_error(served):
    server, database = served
    assert put(server, "h", COLLECTOR_CONFIG)[0] == 200
    before = counts(database)
    logs = COLLECTOR_CONFIG.replace(b"traces:", b"logs:").decode()
    refusals = [
        (b"{not json", 400), (b"[]", 400), (b"{}", 400), ({"files": []}, 400),
        ({"files": {"a": {"body": logs}}, "colour": 1}, 400),
        ({"files": {"a": {"body": logs, "mode": 1}}}, 400), ({"files": {"a": {"body": 1}}}, 400),
        ({"files": {"a": "text"}}, 400), ({"files": {"a": {"body": logs, "contentType": 5}}}, 400),
        ({"files": {"a": {"body": logs}}, "draft": "yes"}, 400), ({"files": {"a": {"body": logs}}, "message": 3}, 400),
        ({"files": {}}, 422), ({"files": {"a\u0000b": {"body": logs}}}, 422),
        ({"files": {"a": {"body": logs}}, "message": "x" * 5000}, 422),
        ({"files": {"a": {"body": "receivers: [\n"}}}, 422), ({"files": {"a": {"body": "a: 1\n"}}}, 422),
    ]
    for body, expected in refusals:
        status, _, reply = call(server, "POST", "/api/v1/configs/h/versions", body)
        assert status == expected, (body, reply)
        assert set(reply) == {"error"} and reply["error"]["code"] and reply["error"]["message"]
    assert put(server, "h", b"a: 1\n")[0] == 422
    assert put(server, "bad%20name", COLLECTOR_CONFIG)[0] == 422
    assert call(server, "POST", "/api/v1/configs/h/versions/9/publish")[0] == 404
    assert call(server, "GET", "/api/v1/configs/h/versions/0")[0] == 400
    assert call(server, "GET", "/api/v1/configs/h/versions?limit=0")[0] == 400
    assert call(server, "GET", "/api/v1/configs/h/versions?colour=red")[0] == 400
    assert call(server, "DELETE", "/api/v1/configs/h/versions")[0] == 405
    assert counts(database) == before

    # A write that fails halfway (the configs row, after the version and its blob) leaves neither.
    if database.startswith("sqlite:"):
        sql(database, "CREATE TRIGGER refuse BEFORE INSERT ON configs BEGIN SELECT RAISE(ABORT, 'injected'); END")
    else:
        sql(database, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                      "$$ BEGIN RAISE EXCEPTION 'injected'; END $$")
        sql(database, "CREATE TRIGGER refuse BEFORE INSERT ON configs FOR EACH ROW EXECUTE FUNCTION refuse()")
    status, _, reply = post_version(server, "h", {"": logs})
    assert status in (409, 503), reply
    assert counts(database) == before
    assert call(server, "GET", "/api/v1/configs/h/versions")[2]["items"][0]["version"] == 1
    sql(database, "DROP TRIGGER refuse" + ("" if database.startswith("sqlite:") else " ON configs"))
    status, _, reply = post_version(server, "h", {"": logs})
    assert status == 201 and reply["version"] == 2, "the failed attempt took no version number"
