"""`ampora ctl` against the real server: tables, JSON and YAML output, a rollout followed to its
end on the event stream, and the exit codes scripts rely on (0 done, 1 refused, 2 no valid
token, 3 unreachable, 64 bad usage).
"""
import json
import subprocess
import uuid

import pytest

from conftest import ADMIN_TOKEN, bin_dir
from test_gateway import Server
from test_rollouts import BASE, Fleet, variant


def ctl(server, *args, token=ADMIN_TOKEN, timeout=120):
    base = ["--server", f"http://127.0.0.1:{server.http_port}"] if server else []
    auth = ["--token", token] if token else []
    return subprocess.run([str(bin_dir() / "ampora"), "ctl", *args, *base, *auth], capture_output=True, text=True,
                          timeout=timeout, env={"HOME": "/nonexistent", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def server(tmp_path):
    s = Server("--database", f"sqlite:{tmp_path / 'ctl.db'}")
    yield s
    assert s.stop() == 0


def test_a_rollout_driven_and_followed_from_the_command_line(server, tmp_path):
    fleet = Fleet(server, ["prod", "prod", "dev"])
    try:
        listed = ctl(server, "agents", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[0].split() == ["UID", "SERVICE", "CONNECTED", "HEALTHY", "CONFIG",
                                                         "LAST", "SEEN"]
        assert all(str(uuid.UUID(bytes=a.uid)) in listed.stdout for a in fleet.agents)
        assert listed.stdout.rstrip().endswith("3 of 3 agents")
        page = json.loads(ctl(server, "agents", "list", "--attr", "env=prod", "-o", "json").stdout)
        assert page["total"] == 2 and len(page["items"]) == 2
        newest = json.loads(ctl(server, "agents", "list", "--sort=-uid", "--limit", "2", "--all", "-o", "json").stdout)
        uids = [a["instanceUid"] for a in newest["items"]]
        assert uids == sorted((str(uuid.UUID(bytes=a.uid)) for a in fleet.agents), reverse=True), "every page, in order"
        assert ctl(server, "agents", "list", "--sort", "name").returncode == 1, "a refused query is an error"
        yaml_out = ctl(server, "agents", "list", "--output", "yaml").stdout
        assert yaml_out.startswith("items:\n  - ") and "total: 3" in yaml_out

        good = tmp_path / "gateway.yaml"
        good.write_bytes(BASE)
        pushed = ctl(server, "configs", "push", "gw", str(good), "--message", "first")
        assert pushed.returncode == 0 and pushed.stdout.startswith("gw v1 "), pushed.stderr
        broken = tmp_path / "broken.yaml"
        broken.write_text("receivers: [\n")
        refused = ctl(server, "configs", "push", "gw", str(broken))
        assert refused.returncode == 1 and "invalid_config" in refused.stderr
        versions = ctl(server, "configs", "versions", "gw")
        assert versions.returncode == 0 and "first" in versions.stdout and "admin-token-file" in versions.stdout

        watched = ctl(server, "rollouts", "create", "--config", "gw", "--version", "1", "--selector", "env=prod",
                      "--stage", "50%", "--stage", "100%", "--watch")
        assert watched.returncode == 0, (watched.stdout, watched.stderr)
        lines = watched.stdout.strip().splitlines()
        assert lines[-1].startswith("[##############################] 100% 2/2 applied") and "completed" in lines[-1]
        rollouts = ctl(server, "rollouts", "list")
        assert "completed" in rollouts.stdout and "2/2" in rollouts.stdout

        # A rollout whose canary fails pauses: `watch` says so and exits 1.
        bad = tmp_path / "bad.yaml"
        bad.write_bytes(variant("FAIL"))
        assert ctl(server, "configs", "push", "gw", str(bad)).returncode == 0
        paused = ctl(server, "rollouts", "create", "--config", "gw", "--version", "2", "--selector", "env=prod",
                     "--stage", "1", "--max-failed", "0", "--watch")
        assert paused.returncode == 1 and "is paused" in paused.stderr, (paused.stdout, paused.stderr)
        rid = json.loads(ctl(server, "rollouts", "list", "-o", "json").stdout)["items"][0]["id"]
        aborted = ctl(server, "rollouts", "act", "abort", rid)
        assert aborted.returncode == 0 and "aborted" in aborted.stdout
        assert ctl(server, "rollouts", "act", "resume", rid).returncode == 1, "an aborted rollout cannot resume"

        uid = str(uuid.UUID(bytes=fleet.agents[2].uid))
        shown = ctl(server, "agents", "show", uid)
        assert shown.returncode == 0 and uid in shown.stdout
        assert ctl(server, "agents", "command", "restart", uid).returncode in (0, 1)
        audit = ctl(server, "audit", "--action", "rollout.create", "-o", "json")
        assert json.loads(audit.stdout)["total"] == 2
    finally:
        fleet.close()


def test_tokens_and_exit_codes(server, tmp_path):
    made = ctl(server, "tokens", "create", "--role", "viewer", "--name", "reader")
    assert made.returncode == 0 and made.stdout.strip().startswith("amp_") and len(made.stdout.splitlines()) == 1
    viewer = made.stdout.strip()
    assert ctl(server, "configs", "list", token=viewer).returncode == 0
    denied = ctl(server, "tokens", "list", token=viewer)
    assert denied.returncode == 2 and "403" in denied.stderr
    assert ctl(server, "agents", "list", token=None).returncode == 2
    assert ctl(server, "agents", "list", token="amp_wrong_token").returncode == 2
    tokens = json.loads(ctl(server, "tokens", "list", "-o", "json").stdout)["items"]
    reader = next(t for t in tokens if t["name"] == "reader")
    assert ctl(server, "tokens", "revoke", reader["id"]).returncode == 0
    assert ctl(server, "configs", "list", token=viewer).returncode == 2, "revoked at once"

    # The server and token may come from a file.
    conf = tmp_path / "ctl.conf"
    conf.write_text(f"# ampora ctl\nserver = http://127.0.0.1:{server.http_port}\ntoken = {ADMIN_TOKEN}\n")
    assert ctl(None, "agents", "list", "--settings", str(conf), token=None).returncode == 0

    unreachable = ctl(None, "agents", "list", "--server", "http://127.0.0.1:9")
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
    assert ctl(server, "rollouts", "create", "--config", "x", "--version", "1").returncode == 64
    assert ctl(server, "agents", "command", "explode", str(uuid.uuid4())).returncode == 64
    missing = ctl(server, "rollouts", "show", "nope")
    assert missing.returncode == 1 and "404" in missing.stderr
