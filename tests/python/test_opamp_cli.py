"""`ampora-tool opamp encode|decode` checked against the reference protobuf implementation.

Our encoder's output must parse in the reference to the very message the reference started
from, and our decoder's JSON must equal the reference's MessageToDict output.
"""
import json
import random
import subprocess

import pytest


def run(tool, *args, data=b""):
    return subprocess.run([str(tool), *args], input=data, capture_output=True, timeout=30)


KINDS = {"AgentToServer": "agent-to-server", "ServerToAgent": "server-to-agent"}


def test_encode_parses_back_in_the_reference(ampora_tool, vectors, ref):
    checked = 0
    for v in vectors:
        if not v["valid"]:
            continue
        want = ref.parse(v["message"], bytes.fromhex(v["hex"]))
        # Ampora skips unknown fields and keeps them nowhere (by design); compare without them.
        want.DiscardUnknownFields()
        out = run(ampora_tool, "opamp", "encode", "--message", KINDS[v["message"]], "-", data=json.dumps(v["json"]).encode())
        assert out.returncode == 0, (v["name"], out.stderr.decode())
        got = ref.parse(v["message"], out.stdout)
        assert got == want, v["name"]
        checked += 1
    assert checked > 500


def test_decode_matches_reference_json(ampora_tool, vectors, ref):
    sample = [v for v in vectors if v["valid"]]
    random.Random(7).shuffle(sample)
    for v in sample[:120]:
        out = run(ampora_tool, "opamp", "decode", "--message", KINDS[v["message"]], data=bytes.fromhex(v["hex"]))
        assert out.returncode == 0, (v["name"], out.stderr.decode())
        assert json.loads(out.stdout) == v["json"], v["name"]


def test_malformed_input_exits_1_with_one_line(ampora_tool, vectors):
    bad = [v for v in vectors if not v["valid"]]
    for v in bad:
        out = run(ampora_tool, "opamp", "decode", "--message", KINDS[v["message"]], data=bytes.fromhex(v["hex"]))
        assert out.returncode == 1, v["name"]
        assert out.stdout == b""
        lines = out.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "byte" in lines[0], (v["name"], lines)


def test_usage_errors_exit_2(ampora_tool):
    assert run(ampora_tool, "opamp", "decode", "--message", "nonsense").returncode == 2
    assert run(ampora_tool, "opamp", "frobnicate").returncode == 2
    assert run(ampora_tool, "opamp", "decode", "--no-such-flag").returncode == 2


def test_help_exits_0(ampora_tool):
    out = run(ampora_tool, "opamp", "decode", "--help")
    assert out.returncode == 0
    assert b"--ws" in out.stdout and b"agent-to-server" in out.stdout


def test_missing_file_is_input_error(ampora_tool, tmp_path):
    out = run(ampora_tool, "opamp", "decode", str(tmp_path / "absent.bin"))
    assert out.returncode == 1
    assert b"cannot read" in out.stderr


def test_invalid_json_is_input_error(ampora_tool):
    out = run(ampora_tool, "opamp", "encode", data=b'{"sequenceNum": ')
    assert out.returncode == 1
    out = run(ampora_tool, "opamp", "encode", data=b'{"noSuchField": 1}')
    assert out.returncode == 1 and b"noSuchField" in out.stderr


def test_websocket_framing_round_trip(ampora_tool, ref):
    cls = ref.agent_to_server_class()
    msg = cls(instance_uid=bytes(range(16)), sequence_num=3, capabilities=0x2001)
    framed = run(ampora_tool, "opamp", "encode", "--ws", data=json.dumps(ref.to_json(msg)).encode())
    assert framed.returncode == 0
    assert framed.stdout[0] == 0
    assert ref.parse("AgentToServer", framed.stdout[1:]) == msg
    decoded = run(ampora_tool, "opamp", "decode", "--ws", data=framed.stdout)
    assert json.loads(decoded.stdout) == ref.to_json(msg)
    # A non-zero header is refused when --ws says a header is there.
    bad = run(ampora_tool, "opamp", "decode", "--ws", data=b"\x05" + ref.serialize(msg))
    assert bad.returncode == 1 and b"header" in bad.stderr


@pytest.mark.parametrize("kind", ["AgentToServer", "ServerToAgent"])
def test_reference_round_trip_of_our_decode(ampora_tool, vectors, ref, kind):
    """decode -> encode through our tool reproduces the reference message."""
    for v in [v for v in vectors if v["valid"] and v["message"] == kind][:40]:
        dec = run(ampora_tool, "opamp", "decode", "--message", KINDS[kind], data=bytes.fromhex(v["hex"]))
        enc = run(ampora_tool, "opamp", "encode", "--message", KINDS[kind], data=dec.stdout)
        want = ref.parse(kind, bytes.fromhex(v["hex"]))
        want.DiscardUnknownFields()
        assert ref.parse(kind, enc.stdout) == want, v["name"]
