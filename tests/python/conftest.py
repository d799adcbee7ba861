"""Shared fixtures: where the built binaries are, and the reference OpAMP classes."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import opamp_ref  # noqa: E402


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
