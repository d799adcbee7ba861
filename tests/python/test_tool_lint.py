"""`ampora-tool` config commands run as CI would run them: exit codes, the JSON contract, SARIF shape."""
import json
import pathlib
import subprocess
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "Tests" / "ToolkitTests" / "Fixtures" / "corpus"

GOOD = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: localhost:4317
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch:
exporters:
  otlp_grpc:
    endpoint: collector.example.com:4317
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc]
"""

BROKEN = GOOD.replace("[memory_limiter, batch]", "[memory_limiter, batch, attributes]")


def run(tool, *args, data=None, cwd=None):
    return subprocess.run([str(tool), *args], input=data, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_exit_codes(ampora_tool, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    assert run(ampora_tool, "lint", str(good)).returncode == 0
    assert run(ampora_tool, "lint", str(broken)).returncode == 1
    assert run(ampora_tool, "validate", str(broken)).returncode == 1
    # health_check-missing is an info finding: it fails only at the info threshold.
    assert run(ampora_tool, "lint", "--severity-threshold", "info", str(good)).returncode == 1
    assert run(ampora_tool, "lint", str(tmp_path / "missing.yaml")).returncode == 2
    assert run(ampora_tool, "lint", "--format", "xml", str(good)).returncode == 2
    assert run(ampora_tool, "lint").returncode == 2
    assert run(ampora_tool, "lint", "-", data=BROKEN).returncode == 1


def test_json_contract(ampora_tool, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    out = run(ampora_tool, "lint", "--format", "json", str(broken))
    report = json.loads(out.stdout)
    assert list(report) == ["files", "findings"]
    assert report["files"] == 1
    keys = ["rule", "severity", "message", "file", "line", "column", "path"]
    for finding in report["findings"]:
        assert list(finding) == keys
        assert finding["severity"] in ("error", "warning", "info")
        assert isinstance(finding["line"], int) and isinstance(finding["column"], int)
    undeclared = [f for f in report["findings"] if f["rule"] == "undeclared-component"]
    assert undeclared == [{
        "rule": "undeclared-component", "severity": "error",
        "message": "pipeline 'traces' uses processor 'attributes', which is not declared under 'processors'",
        "file": str(broken), "line": 18, "column": 43, "path": "service.pipelines.traces.processors[2]",
    }]


def test_corpus_in_one_process_is_deterministic(ampora_tool):
    first = run(ampora_tool, "lint", "--format", "json", str(CORPUS))
    second = run(ampora_tool, "lint", "--format", "json", str(CORPUS))
    assert first.returncode == 1
    assert first.stdout == second.stdout
    report = json.loads(first.stdout)
    assert report["files"] == 138
    errors = {f["file"].rsplit("/", 1)[-1] for f in report["findings"] if f["severity"] == "error"}
    rows = [line.split("\t") for line in (CORPUS / "SOURCES.tsv").read_text().splitlines()[1:]]
    invalid = {r[0] for r in rows if r[5] == "invalid"}
    assert invalid <= errors


def test_sarif_and_github(ampora_tool, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    sarif = json.loads(run(ampora_tool, "lint", "--format", "sarif", str(broken)).stdout)
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    rule_ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert len(rule_ids) >= 45
    for result in run0["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    github = run(ampora_tool, "lint", "--format", "github", str(broken)).stdout
    assert "::error file=" in github and ",line=18,col=43,title=undeclared-component::" in github


def test_policy_file_env_and_registry(ampora_tool, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(GOOD.replace("collector.example.com:4317", "${env:HOST}:4317"))
    # Quiet by default: deployments set their variables; asked for with --strict-env or by describing the env.
    assert "env-unset-no-default" not in run(ampora_tool, "lint", str(config)).stdout
    assert "env-unset-no-default" in run(ampora_tool, "lint", "--strict-env", str(config)).stdout
    assert "env-unset-no-default" in run(ampora_tool, "lint", "--env", "OTHER=x", str(config)).stdout
    assert "env-unset-no-default" not in run(ampora_tool, "lint", "--env", "HOST=x", str(config)).stdout
    env_file = tmp_path / "ci.env"
    env_file.write_text("export HOST=collector\n")
    assert "env-unset-no-default" not in run(ampora_tool, "lint", "--env-file", str(env_file), str(config)).stdout
    (tmp_path / ".ampora-lint.yaml").write_text("rules:\n  env-unset-no-default: error\n")
    assert run(ampora_tool, "lint", "c.yaml", cwd=tmp_path).returncode == 1
    (tmp_path / ".ampora-lint.yaml").write_text("rules:\n  no-such-rule: error\n")
    assert run(ampora_tool, "lint", "c.yaml", cwd=tmp_path).returncode == 2
    registry = tmp_path / "distro.tsv"
    registry.write_text("kind\ttype\tstability\tnote\nreceiver\totlp\tstable:traces\t\n")
    out = run(ampora_tool, "lint", "--format", "json", "--registry", str(registry), str(config))
    rules = {f["rule"] for f in json.loads(out.stdout)["findings"]}
    assert "unknown-component-type" in rules  # memory_limiter, batch and otlp_grpc are not in this distribution


def test_fix_dry_run_then_in_place(ampora_tool, tmp_path):
    config = tmp_path / "c.yaml"
    original = GOOD.replace("otlp_grpc", "otlp") + "# a comment that must survive\n"
    config.write_text(original)
    dry = run(ampora_tool, "fix", "--dry-run", str(config))
    assert dry.returncode == 1
    assert "-  otlp:\n+  otlp_grpc:\n" in dry.stdout
    assert config.read_text() == original
    assert run(ampora_tool, "fix", str(config)).returncode == 0
    fixed = config.read_text()
    assert "exporters: [otlp_grpc]" in fixed and "receivers: [otlp]" in fixed
    assert fixed.endswith("# a comment that must survive\n")
    assert run(ampora_tool, "fix", "--dry-run", str(config)).returncode == 0


def test_normalize_graph_diff_components_rules(ampora_tool, tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text(GOOD)
    b = tmp_path / "b.yaml"
    b.write_text(GOOD.replace("[memory_limiter, batch]", "[batch]"))
    normalized = run(ampora_tool, "normalize", str(a))
    assert normalized.returncode == 0 and normalized.stdout.startswith("receivers:")
    for fmt, marker in [("dot", "digraph"), ("mermaid", "flowchart LR"), ("svg", "<svg"), ("json", '"nodes"')]:
        out = run(ampora_tool, "graph", "--format", fmt, str(a))
        assert out.returncode == 0 and marker in out.stdout
        if fmt == "svg":
            assert ET.fromstring(out.stdout).tag == "{http://www.w3.org/2000/svg}svg"
    diff = run(ampora_tool, "diff", "--json", str(a), str(b))
    assert diff.returncode == 1
    changes = json.loads(diff.stdout)["changes"]
    assert changes[0]["risk"] == "high" and changes[0]["kind"] == "processor-unwired"
    assert run(ampora_tool, "diff", str(a), str(a)).returncode == 0
    components = run(ampora_tool, "components", "--kind", "exporter", "--json")
    assert any(c["type"] == "otlp" and c["status"] == "alias of otlp_grpc" for c in json.loads(components.stdout))
    rules = json.loads(run(ampora_tool, "rules", "--format", "json").stdout)
    assert len(rules) >= 45 and all(r["rationale"] for r in rules)
    assert "Exit status" in run(ampora_tool, "lint", "--help").stdout


GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"


def test_help_is_golden(ampora_tool):
    """The whole --help text of the config commands; regenerate with AMPORA_UPDATE_GOLDEN=1 after a deliberate change."""
    import os
    for command in ["", "validate", "lint", "normalize", "fix", "graph", "components", "diff", "rules"]:
        args = [command, "--help"] if command else ["--help"]
        out = run(ampora_tool, *args)
        assert out.returncode == 0
        golden = GOLDEN / f"help-{command or 'root'}.txt"
        if os.environ.get("AMPORA_UPDATE_GOLDEN") == "1":
            golden.write_text(out.stdout)
        assert out.stdout == golden.read_text(), f"{golden.name} differs"


def test_fix_dry_run_applies_with_patch_and_git(ampora_tool, tmp_path):
    (tmp_path / "sub").mkdir()
    config = tmp_path / "sub" / "c.yaml"
    original = GOOD.replace("otlp_grpc", "otlp")
    config.write_text(original)
    diff = run(ampora_tool, "fix", "--dry-run", "sub/c.yaml", cwd=tmp_path).stdout
    assert diff.startswith("--- sub/c.yaml\n+++ sub/c.yaml\n@@ ")
    (tmp_path / "fix.diff").write_text(diff)
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    assert subprocess.run(["git", "apply", "-p0", "--check", "fix.diff"], cwd=tmp_path).returncode == 0
    assert subprocess.run(["patch", "-p0", "-s", "-i", "fix.diff"], cwd=tmp_path).returncode == 0
    assert "exporters: [otlp_grpc]" in config.read_text() and "receivers: [otlp]" in config.read_text()
    assert run(ampora_tool, "fix", "--dry-run", "sub/c.yaml", cwd=tmp_path).returncode == 0


def test_diff_ignores_alias_renames(ampora_tool, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(GOOD.replace("otlp_grpc", "otlp"))
    new = tmp_path / "new.yaml"
    new.write_text(GOOD)
    out = run(ampora_tool, "diff", str(old), str(new))
    assert out.returncode == 0 and out.stdout == "no semantic changes\n"
    # Under a release before the rename, otlp and otlp_grpc are different types: a real change.
    assert run(ampora_tool, "diff", "--collector-version", "v0.143", "--distribution", "core", str(old),
               str(new)).returncode == 1


def bezier_points(d):
    """Points along an SVG path of M, L and C commands (absolute coordinates)."""
    tokens = d.replace(",", " ").split()
    points, i, current = [], 0, None
    while i < len(tokens):
        command = tokens[i]
        if command in ("M", "L"):
            current = (float(tokens[i + 1]), float(tokens[i + 2]))
            points.append(current)
            i += 3
        elif command == "C":
            p1, p2, p3 = [(float(tokens[i + 1 + 2 * k]), float(tokens[i + 2 + 2 * k])) for k in range(3)]
            for step in range(1, 21):
                t = step / 20
                points.append(tuple((1 - t) ** 3 * current[j] + 3 * (1 - t) ** 2 * t * p1[j]
                                    + 3 * (1 - t) * t ** 2 * p2[j] + t ** 3 * p3[j] for j in range(2)))
            current = p3
            i += 7
        else:
            raise AssertionError(f"unexpected path command {command}")
    return points


def test_svg_graph_edges_avoid_boxes_and_names_are_whole(ampora_tool, tmp_path):
    config = tmp_path / "g.yaml"
    long_name = "a_really_long_exporter_name_that_used_to_be_cut"
    config.write_text(GOOD.replace("  batch:\n", "  batch:\n  attributes:\n    actions: []\n  resource:\n    attributes: []\n")
                      .replace("[memory_limiter, batch]", "[memory_limiter, attributes, resource, batch]")
                      + f"    logs:\n      receivers: [otlp]\n      exporters: [debug/{long_name}]\n"
                      # Shares the traces exporter, which sits five columns right of the receiver: a long edge.
                      + "    traces/direct:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n")
    text = config.read_text().replace("exporters:\n  otlp_grpc:", f"exporters:\n  debug/{long_name}:\n  otlp_grpc:")
    config.write_text(text)
    svg = ET.fromstring(run(ampora_tool, "graph", "--format", "svg", str(config)).stdout)
    ns = "{http://www.w3.org/2000/svg}"
    boxes = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for r in svg.iter(ns + "rect") if r.get("x")]
    texts = [t.text for t in svg.iter(ns + "text")]
    assert f"debug/{long_name}" in texts and not any("…" in (t or "") for t in texts)
    assert "logs" in texts and "traces/direct" in texts  # processor-less pipelines are labelled on their edges
    for path in svg.iter(ns + "path"):
        if path.get("d", "").startswith("M 0 0"):
            continue  # arrow markers
        for x, y in bezier_points(path.get("d")):
            for bx, by, bw, bh in boxes:
                assert not (bx + 1 < x < bx + bw - 1 and by + 1 < y < by + bh - 1), f"edge through box at {x},{y}"
    dot = run(ampora_tool, "graph", "--format", "dot", str(config)).stdout
    assert 'label="logs"' in dot


def test_distributions_versions_and_registry_add(ampora_tool, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(GOOD.replace("  batch:\n", "  batch:\n  vendor_thing:\n")
                      .replace("[memory_limiter, batch]", "[memory_limiter, vendor_thing, batch]"))
    assert run(ampora_tool, "validate", str(config)).returncode == 1  # vendor_thing is unknown
    extra = tmp_path / "vendor.tsv"
    extra.write_text("kind\ttype\tstability\tnote\nprocessor\tvendor_thing\tbeta:traces\tvendor\n")
    assert run(ampora_tool, "validate", "--registry-add", str(extra), str(config)).returncode == 0
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    # otlp_grpc is the exporter's name from v0.144 on; v0.143's core distribution only knows `otlp`.
    assert run(ampora_tool, "validate", "--distribution", "core", "--collector-version", "v0.158", str(good)).returncode == 0
    old = run(ampora_tool, "validate", "--distribution", "core", "--collector-version", "v0.143", str(good))
    assert old.returncode == 1 and "named 'otlp' in v0.143" in old.stdout
    # An unknown distribution or version is a usage error.
    assert run(ampora_tool, "validate", "--distribution", "nosuch", str(good)).returncode == 2
    assert run(ampora_tool, "validate", "--collector-version", "latest", str(good)).returncode == 2
    fixed = run(ampora_tool, "fix", "--dry-run", "--distribution", "core", "--collector-version", "v0.143", "-",
                data=GOOD.replace("otlp_grpc", "otlp"))
    assert fixed.returncode == 0 and fixed.stdout == ""  # no rename before the rename existed


def test_contrib_k8s_and_otlp_distributions(ampora_tool, tmp_path):
    # From the releases' builder manifests: datadog is in contrib only, the otlp distribution has no processors.
    config = tmp_path / "c.yaml"
    config.write_text(GOOD.replace("exporters:\n  otlp_grpc:", "exporters:\n  datadog:\n    api:\n      key: ${env:K}\n"
                                   "  otlp_grpc:").replace("exporters: [otlp_grpc]", "exporters: [otlp_grpc, datadog]"))
    assert run(ampora_tool, "validate", "--distribution", "contrib", "--collector-version", "v0.158",
               str(config)).returncode == 0
    k8s = run(ampora_tool, "validate", "--distribution", "k8s", "--collector-version", "v0.158", "--format", "json",
              str(config))
    assert k8s.returncode == 1
    assert [f["message"] for f in json.loads(k8s.stdout)["findings"]] == [
        "unknown exporter type 'datadog' (not part of the k8s distribution)"]
    otlp = run(ampora_tool, "validate", "--distribution", "otlp", "--collector-version", "v0.158", "--format", "json",
               str(config))
    assert otlp.returncode == 1
    assert {f["message"].split("'")[1] for f in json.loads(otlp.stdout)["findings"]} == {
        "memory_limiter", "batch", "datadog"}


def test_svg_cycle_edges_pass_below_boxes_with_separate_labels(ampora_tool):
    # Two pipelines loop through one connector; an unused receiver and exporter sit under it in its column.
    config = CORPUS / "open-telemetry__opentelemetry-collector__otelcol__testdata__otelcol-cyclic-connector.yaml"
    svg = ET.fromstring(run(ampora_tool, "graph", "--format", "svg", str(config)).stdout)
    ns = "{http://www.w3.org/2000/svg}"
    width, height = float(svg.get("width")), float(svg.get("height"))
    boxes = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for r in svg.iter(ns + "rect") if r.get("x")]
    cycles = [p for p in svg.iter(ns + "path") if p.get("stroke") == "#d00"]
    assert len(cycles) == 2
    for path in cycles:
        corners = bezier_points(path.get("d"))
        for (x1, y1), (x2, y2) in zip(corners, corners[1:]):
            for step in range(21):  # straight segments, checked along their length
                x, y = x1 + (x2 - x1) * step / 20, y1 + (y2 - y1) * step / 20
                assert 0 <= x <= width and 0 <= y <= height, f"cycle edge leaves the picture at {x},{y}"
                for bx, by, bw, bh in boxes:
                    assert not (bx + 1 < x < bx + bw - 1 and by + 1 < y < by + bh - 1), f"cycle edge through box at {x},{y}"
    labels = {(t.get("x"), t.get("y")): t.text for t in svg.iter(ns + "text") if t.text in ("traces/in", "traces/out")}
    assert sorted(labels.values()) == ["traces/in", "traces/out"]  # two places, not one over the other
