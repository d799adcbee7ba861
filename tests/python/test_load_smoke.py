"""A short multi-ring load run: thousands of agents through several io_uring loops that share
one listener, so balancing pauses, cross-ring pokes and slot reuse are exercised for real.
Bounded in time; every address is on loopback."""
import json
import pathlib
import subprocess

from test_gateway import Server

LOADGEN = pathlib.Path(__file__).resolve().parents[2] / "Benchmarks" / "loadgen"


def test_three_thousand_agents_over_three_rings(tmp_path):
    subprocess.run(["make", "-s", "-C", str(LOADGEN)], check=True, timeout=120)
    server = Server("--io", "uring", "--loops", "3")
    try:
        out = tmp_path / "result.json"
        run = subprocess.run(
            ["python3", str(LOADGEN / "run_load.py"), "--target", f"127.0.0.1:{server.opamp_port}",
             "--server-pid", str(server.proc.pid), "--agents", "3000", "--heartbeat", "2",
             "--duration", "15", "--rate", "3000", "--out", str(out)],
            capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        result = json.loads(out.read_text())
        assert result["agents_connected"] == 3000
        assert result["violations"] == 0
        assert result["errors"] == 0
        metrics = server.metrics()
        assert metrics["ampora_http_errors_total"] == 0
        assert metrics["ampora_opamp_messages_malformed_total"] == 0
    finally:
        assert server.stop() == 0
