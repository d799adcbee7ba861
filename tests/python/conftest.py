"""Shared fixtures: where the built binaries are, and the reference OpAMP classes."""
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import opamp_ref  # noqa: E402

# Every server the tests start accepts this admin token (`--admin-token-file`, see
# test_gateway.Server), and urllib sends it on every operator API request that names no
# Authorization of its own, so tests about something else need not carry it around. Tests of
# authentication set the header themselves or use http.client.
ADMIN_TOKEN = "amp_test_admin_token_0123456789abcdef"


class _OperatorToken(urllib.request.BaseHandler):
    def http_request(self, req):
        path = urllib.parse.urlsplit(req.full_url).path
        if (path.startswith("/api/") or path == "/metrics") and not req.has_header("Authorization"):
            req.add_unredirected_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        return req

    https_request = http_request


urllib.request.install_opener(urllib.request.build_opener(_OperatorToken()))


def admin_token_file(directory):
    """Writes ADMIN_TOKEN where `--admin-token-file` will read it; returns the path."""
    path = pathlib.Path(directory) / "admin-token"
    path.write_text(ADMIN_TOKEN + "\n")
    return str(path)


def bin_dir():
    env = os.environ.get("AMPORA_BIN_DIR")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


@pytest.fixture(scope="session")
def ampora_tool():
    path = bin_dir() / "ampora-tool"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `swift build` first")
    return path


@pytest.fixture(scope="session")
def vectors():
    return json.loads((ROOT / "Tests/CoreTests/Fixtures/vectors.json").read_text())["vectors"]


@pytest.fixture(scope="session")
def ref():
    return opamp_ref
