"""The test command's throwaway PostgreSQL is up and reachable on loopback.

Later suites (the Fleet store) run against it; under CI=true a missing server is a failure,
never a skip.
"""
import os
import subprocess

import pytest


def test_postgres_is_available():
    url = os.environ.get("AMPORA_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("AMPORA_TEST_POSTGRES_URL is not set (run the tests with `make test`)")
        pytest.skip("no PostgreSQL: run the tests with `make test`")
    assert "127.0.0.1" in url
    out = subprocess.run(["psql", url, "-tAc", "select 40 + 2"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
