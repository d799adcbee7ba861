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
