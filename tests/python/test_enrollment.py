"""Enrollment tokens: `ampora token create` and `ampora serve --require-enrollment` on loopback,
with WebSocket agents (`websockets`) and the PyPI OpAMP client over HTTP."""
import os
import subprocess
import time

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from opentelemetry._opamp.client import OpAMPClient
from opentelemetry._opamp.proto import opamp_pb2

from conftest import bin_dir
from test_gateway import Server, msg, exchange, run


def create_token(server, *args):
    out = subprocess.run(
        [str(bin_dir() / "ampora"), "token", "create", "--enrollment", "--database", f"sqlite:{server.dbdir}/ampora.db",
         *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("ampora_") and "\n" not in token
    return token


def upgrade_status(server, token):
    async def go():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with websockets.connect(server.ws_url, additional_headers=headers):
                return 101
        except InvalidStatus as e:
            return e.response.status_code

    return run(go())


def wait_until_valid(server, token):
    """A token created by another process is picked up within a few seconds."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if upgrade_status(server, token) == 101:
            return
        time.sleep(0.3)
    pytest.fail("the server never accepted the new token")


@pytest.fixture(params=["uring", "epoll"])
def server(request):
    s = Server("--io", request.param, "--require-enrollment")
    yield s
    assert s.stop() == 0


def test_missing_or_unknown_token_is_401(server):
    assert upgrade_status(server, None) == 401
    assert upgrade_status(server, "ampora_not-a-token") == 401
    assert server.metrics()["ampora_enrollment_refused_total"] >= 2


def test_a_token_enrolls_as_many_agents_as_it_has_uses(server):
    token = create_token(server, "--uses", "1", "--label", "env=prod")
    wait_until_valid(server, token)
    first, second = os.urandom(16), os.urandom(16)

    async def go():
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(server.ws_url, additional_headers=headers) as ws:
            assert (await exchange(ws, msg(first, 0, full=True))).instance_uid == first
        async with websockets.connect(server.ws_url, additional_headers=headers) as ws:
            refused = await exchange(ws, msg(second, 0, full=True))
            assert refused.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
            assert "no uses left" in refused.error_response.error_message
        async with websockets.connect(server.ws_url, additional_headers=headers) as ws:
            again = await exchange(ws, msg(first, 1, full=True))
            assert again.instance_uid == first and not again.HasField("error_response"), "an enrolled agent comes back"

    run(go())


def test_an_agent_bound_to_one_token_cannot_be_claimed_with_another(server):
    a, b = create_token(server), create_token(server)
    wait_until_valid(server, a)
    wait_until_valid(server, b)
    uid = os.urandom(16)

    async def go():
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {a}"}) as ws:
            await exchange(ws, msg(uid, 0, full=True))
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {b}"}) as ws:
            stolen = await exchange(ws, msg(uid, 1, full=True))
            assert stolen.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest

    run(go())


def test_expired_token_is_401(server):
    token = create_token(server, "--expires", "1s")
    time.sleep(3.5)  # expired before the server's refresh can even see it valid
    assert upgrade_status(server, token) == 401


def test_reference_client_sends_the_token_over_http(server):
    token = create_token(server)
    wait_until_valid(server, token)
    client = OpAMPClient(
        endpoint=server.http_url,
        headers={"Authorization": f"Bearer {token}"},
        agent_identifying_attributes={"service.name": "python-agent"},
        capabilities=opamp_pb2.AgentCapabilities_ReportsStatus,
    )
    assert client.send(client.build_full_state_message()).instance_uid == client._instance_uid
    anonymous = OpAMPClient(
        endpoint=server.http_url,
        agent_identifying_attributes={"service.name": "python-agent"},
        capabilities=opamp_pb2.AgentCapabilities_ReportsStatus,
    )
    with pytest.raises(Exception):
        anonymous.send(anonymous.build_full_state_message())


@pytest.mark.parametrize("args", [[], ["--enrollment", "--uses", "0"], ["--enrollment", "--expires", "3x"],
                                  ["--enrollment", "--label", "novalue"]])
def test_token_create_refuses_bad_flags(args, tmp_path):
    out = subprocess.run([str(bin_dir() / "ampora"), "token", "create", *args, "--database", f"sqlite:{tmp_path}/a.db"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 64, out


def test_tokens_through_the_operator_api(server):
    import json
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/api/v1/tokens", method="POST",
                                 data=json.dumps({"uses": 2, "labels": {"env": "prod"}}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201
        answer = json.loads(r.read())
    assert answer["token"].startswith("ampora_") and answer["uses"] == 2
    assert upgrade_status(server, answer["token"]) == 101, "valid at once, no refresh needed"
    bad = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/api/v1/tokens", method="POST",
                                 data=b'{"uses": 0}', headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad, timeout=10)
    assert e.value.code == 400


def test_an_operator_can_unbind_an_agent_whose_credentials_changed(server):
    import urllib.request
    import uuid as uuidlib
    a, b = create_token(server), create_token(server)
    wait_until_valid(server, a)
    wait_until_valid(server, b)
    uid = os.urandom(16)
    url = f"http://127.0.0.1:{server.http_port}/api/v1/agents/{uuidlib.UUID(bytes=uid)}/identity"

    def delete():
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    async def speak(token, seq):
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            return await exchange(ws, msg(uid, seq, full=True))

    assert not run(speak(a, 0)).HasField("error_response")
    assert run(speak(b, 1)).HasField("error_response"), "bound to token a"
    assert delete() == 204
    assert not run(speak(b, 2)).HasField("error_response"), "after the unbinding, b binds it"
    assert delete() == 204 and delete() == 404


def test_token_labels_become_agent_labels_that_selectors_name(server):
    from test_fleet import COLLECTOR_CONFIG, api
    token = create_token(server, "--label", "env=prod", "--label", "team=payments")
    plain = create_token(server)
    wait_until_valid(server, token)
    wait_until_valid(server, plain)
    body = COLLECTOR_CONFIG
    assert api(server, "PUT", "/api/v1/configs/prod-labelled", body, {"Content-Type": "text/yaml"})[0] == 200
    status, _ = api(server, "POST", "/api/v1/assignments", {"config": "prod-labelled", "selector": {"label:env": "prod"}})
    assert status in (200, 201)
    labelled, other = os.urandom(16), os.urandom(16)

    async def go():
        caps = 0x1 | 0x2 | 0x4  # ReportsStatus, AcceptsRemoteConfig, ReportsEffectiveConfig
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            first = await exchange(ws, msg(labelled, 0, caps=caps, full=True))
            assert first.remote_config.config.config_map[""].body == body, "the first reply carries it"
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {plain}"}) as ws:
            first = await exchange(ws, msg(other, 0, caps=caps, full=True))
            assert not first.HasField("remote_config"), "no label, no config"

    run(go())
    import uuid

    def agent(uid):
        # The inventory takes the agents' messages a few milliseconds after the replies.
        deadline = time.time() + 10
        while True:
            status, body = api(server, "GET", f"/api/v1/agents/{uuid.UUID(bytes=uid)}")
            if status == 200 or time.time() > deadline:
                assert status == 200, body
                return body
            time.sleep(0.05)

    assert agent(labelled)["labels"] == {"env": "prod", "team": "payments"}
    assert agent(other)["labels"] == {}
