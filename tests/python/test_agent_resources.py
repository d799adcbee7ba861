"""The operator API's agent resources against the real server on both databases: effective config
(secrets redacted), available components, custom messages both ways, sorted and filtered listings,
groups with ETag/If-Match, enrollment tokens listed and revoked, Location on creation."""
import asyncio
import base64
import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
import websockets

from test_fleet import COLLECTOR_CONFIG, api, backends, fresh_database, run, wait_for
from test_gateway import A, S, Server, exchange, msg
from test_enrollment import upgrade_status

CAPABILITY = "io.ampora.test.echo"
# status, accepts remote config, effective config, remote config status, available components
CAPS = 0x1 | 0x2 | 0x4 | 0x1000 | 0x4000
SECRET_CONFIG = (b"receivers:\n  otlp:\n    protocols:\n      grpc: {}\n"
                 b"exporters:\n  otlphttp:\n    endpoint: https://collector.example\n"
                 b"    headers:\n      authorization: Bearer s3cr3t-value\n"
                 b"service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlphttp]\n")


def first_message(uid, env="prod", name="otelcol", announce=(CAPABILITY,)):
    m = A(instance_uid=uid, sequence_num=1, capabilities=CAPS)
    m.agent_description.identifying_attributes.add(key="service.name").value.string_value = name
    m.agent_description.non_identifying_attributes.add(key="env").value.string_value = env
    m.effective_config.config_map.config_map["collector.yaml"].body = SECRET_CONFIG
    m.effective_config.config_map.config_map["collector.yaml"].content_type = "text/yaml"
    m.effective_config.config_map.config_map["opaque.bin"].body = b"\x00\x01password=plain\xff"
    m.available_components.hash = b"build-1"
    m.available_components.components["receivers"].sub_component_map["otlp"].metadata.add(
        key="code.namespace").value.string_value = "otlpreceiver"
    m.available_components.components["exporters"].sub_component_map["otlphttp"]
    if announce:
        m.custom_capabilities.capabilities.extend(announce)
    return b"\x00" + m.SerializeToString()


def custom(uid, seq, capability, kind, data):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=CAPS)
    m.custom_message.capability = capability
    m.custom_message.type = kind
    m.custom_message.data = data
    return b"\x00" + m.SerializeToString()


@pytest.fixture(params=backends())
def server(request, tmp_path):
    s = Server("--database", fresh_database(request.param, tmp_path), "--custom-capability", CAPABILITY)
    yield s
    assert s.stop() == 0


def test_effective_config_is_redacted_and_components_are_served(server):
    uid = os.urandom(16)
    text = str(uuid.UUID(bytes=uid))

    async def go():
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            reply = await exchange(ws, first_message(uid))
            assert list(reply.custom_capabilities.capabilities) == [CAPABILITY], "the server announces its capability"
            status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
                api(server, "GET", f"/api/v1/agents/{text}/effective-config")), what="the effective config")
            names = [f["name"] for f in body["files"]]
            assert names == ["collector.yaml", "opaque.bin"], "files in the Supervisor's merge order"
            collector, opaque = body["files"]
            assert body["redacted"] is True and len(body["hash"]) == 64
            assert "s3cr3t" not in json.dumps(body), "the secret never leaves the server"
            assert "<redacted>" in collector["body"] and "https://collector.example" in collector["body"]
            assert collector["withheld"] is None and collector["size"] == len(SECRET_CONFIG)
            assert opaque["body"] is None and "not YAML" in opaque["withheld"], "unparseable files are withheld"

            status, comps = api(server, "GET", f"/api/v1/agents/{text}/components")
            assert status == 200, comps
            assert comps["hash"] == b"build-1".hex()
            assert set(comps["components"]["components"]) == {"receivers", "exporters"}
            assert "otlp" in comps["components"]["components"]["receivers"]["subComponentMap"]

    run(go())
    missing = str(uuid.uuid4())
    assert api(server, "GET", f"/api/v1/agents/{missing}/effective-config")[1]["error"]["code"] == "agent_not_found"
    assert api(server, "GET", "/api/v1/agents/not-a-uid/components")[0] == 400


def test_custom_messages_both_ways(server):
    uid, quiet = os.urandom(16), os.urandom(16)
    text, quiet_text = (str(uuid.UUID(bytes=u)) for u in (uid, quiet))

    async def go():
        async with websockets.connect(server.ws_url, max_size=None) as ws, \
                websockets.connect(server.ws_url, max_size=None) as other:
            await exchange(ws, first_message(uid))
            await exchange(other, first_message(quiet, announce=()))
            # One message for the announced capability, one for a capability the server did not announce.
            await exchange(ws, custom(uid, 2, CAPABILITY, "ping", b"hello"))
            await exchange(ws, custom(uid, 3, "io.example.unknown", "ping", b"ignored"))
            got = wait_for(lambda: (lambda r: r if r[0] == 200 and r[1]["items"] else None)(
                api(server, "GET", f"/api/v1/agents/{text}/custom-messages")), what="the custom message")
            items = got[1]["items"]
            assert [(i["capability"], i["type"], base64.b64decode(i["data"])) for i in items] == [
                (CAPABILITY, "ping", b"hello")]
            assert items[0]["size"] == 5 and items[0]["truncated"] is False

            status, sent = api(server, "POST", f"/api/v1/agents/{text}/custom-messages",
                               {"capability": CAPABILITY, "type": "pong", "data": base64.b64encode(b"\x00hi").decode()})
            assert status == 202, sent
            raw = await asyncio.wait_for(ws.recv(), 10)
            pushed = S()
            pushed.ParseFromString(raw[1:])
            assert (pushed.custom_message.capability, pushed.custom_message.type, pushed.custom_message.data) == (
                CAPABILITY, "pong", b"\x00hi")

            # The other agent announced nothing: refused, named.
            status, refused = api(server, "POST", f"/api/v1/agents/{quiet_text}/custom-messages",
                                  {"capability": CAPABILITY, "type": "pong"})
            assert status == 409 and "did not announce" in refused["error"]["message"]
            assert api(server, "POST", f"/api/v1/agents/{text}/custom-messages",
                       {"capability": CAPABILITY, "type": "x", "data": "%%%"})[0] == 400
            assert api(server, "POST", f"/api/v1/agents/{text}/custom-messages",
                       {"capability": CAPABILITY, "type": "x", "extra": 1})[0] == 400

    run(go())
    # Every attempt is audited, refused ones as failed (the entries are written by a queue).
    audit = wait_for(lambda: (lambda page: page if page["total"] == 4 else None)(
        api(server, "GET", "/api/v1/audit?action=agent.custom-message")[1]), what="four audit entries")
    assert sorted((e["target"], e["outcome"]) for e in audit["items"]) == sorted([
        (f"/api/v1/agents/{text}/custom-messages", "ok"), (f"/api/v1/agents/{quiet_text}/custom-messages", "failed"),
        (f"/api/v1/agents/{text}/custom-messages", "failed"), (f"/api/v1/agents/{text}/custom-messages", "failed")])


def test_listing_sorts_pages_and_filters_by_group(server):
    uids = [os.urandom(16) for _ in range(6)]

    async def go():
        for i, uid in enumerate(uids):
            async with websockets.connect(server.ws_url, max_size=None) as ws:
                await exchange(ws, first_message(uid, env="prod" if i % 2 == 0 else "dev", announce=()))
            # Seen before the next one connects, so that each has its own first-seen time.
            await asyncio.to_thread(wait_for, lambda: api(server, "GET", "/api/v1/agents")[1]["total"] == i + 1)
            await asyncio.sleep(0.01)

    run(go())
    wait_for(lambda: api(server, "GET", "/api/v1/agents")[1]["total"] == 6, what="six agents")
    order = [str(uuid.UUID(bytes=u)) for u in uids]
    seen, cursor = [], None
    while True:
        path = "/api/v1/agents?sort=-firstSeen&limit=4" + (f"&cursor={cursor}" if cursor else "")
        status, page = api(server, "GET", path)
        assert status == 200, page
        seen += [a["instanceUid"] for a in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(order)), "newest first, across pages, nothing twice"
    ascending = api(server, "GET", "/api/v1/agents?sort=firstSeen")[1]["items"]
    assert [a["instanceUid"] for a in ascending] == order
    assert api(server, "GET", "/api/v1/agents?sort=name")[0] == 400
    assert api(server, "GET", f"/api/v1/agents?sort=-firstSeen&cursor={order[0]}")[0] == 400, "a cursor of another order"

    status, group = api(server, "PUT", "/api/v1/groups/prod", {"selector": {"env": "prod"}})
    assert status == 200
    _, members = api(server, "GET", "/api/v1/agents?group=prod")
    assert sorted(a["instanceUid"] for a in members["items"]) == sorted(order[0::2])
    assert api(server, "GET", "/api/v1/agents?group=prod&attr.env=dev")[1]["total"] == 0
    assert api(server, "GET", "/api/v1/agents?group=nope")[0] == 404


def test_groups_have_etags_and_honour_if_match(server):
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/api/v1/groups/edge", method="PUT",
                                 data=json.dumps({"selector": {"env": "edge"}}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        first_tag = r.headers["ETag"]
        assert json.loads(r.read())["etag"] == first_tag
    assert first_tag.startswith('"') and first_tag.endswith('"')
    status, body = api(server, "PUT", "/api/v1/groups/edge", {"selector": {"env": "edge2"}}, {"If-Match": first_tag})
    assert status == 200 and body["etag"] != first_tag
    status, stale = api(server, "PUT", "/api/v1/groups/edge", {"selector": {"env": "x"}}, {"If-Match": first_tag})
    assert status == 412 and stale["error"]["code"] == "precondition_failed"
    assert api(server, "GET", "/api/v1/groups/edge")[1]["selector"] == {"env": "edge2"}, "the refused change left nothing"
    assert api(server, "DELETE", "/api/v1/groups/edge", None, {"If-Match": first_tag})[0] == 412
    assert api(server, "DELETE", "/api/v1/groups/edge", None, {"If-Match": body["etag"]})[0] == 204
    assert api(server, "PUT", "/api/v1/groups/gone", {"selector": {}}, {"If-Match": "*"})[0] == 412, \
        "If-Match: * needs the group to exist"


def test_creations_answer_with_location(server):

    def post(path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Location"), json.loads(r.read())
        except urllib.error.HTTPError as e:
            pytest.fail(f"POST {path}: {e.code} {e.read().decode()}")

    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/api/v1/configs/base", method="PUT",
                                 data=COLLECTOR_CONFIG, headers={"Content-Type": "text/yaml"})
    urllib.request.urlopen(req, timeout=10).read()
    status, location, assignment = post("/api/v1/assignments", {"config": "base", "selector": {"env": "none"}})
    assert status == 201 and location == f"/api/v1/assignments/{assignment['id']}"
    assert api(server, "GET", location)[0] == 200

    async def with_an_agent():
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await exchange(ws, first_message(os.urandom(16), env="none", announce=()))
            wait_for(lambda: api(server, "GET", "/api/v1/agents?attr.env=none")[1]["total"] == 1, what="the agent")
            return await asyncio.to_thread(
                post, "/api/v1/rollouts", {"config": "base", "version": 1, "target": {"selector": {"env": "none"}}})

    status, location, rollout = run(with_an_agent())
    assert status == 201 and location == f"/api/v1/rollouts/{rollout['id']}"
    assert api(server, "GET", location)[1]["id"] == rollout["id"]


def test_enrollment_tokens_are_listed_and_revoked():
    server = Server("--require-enrollment")
    try:
        status, made = api(server, "POST", "/api/v1/tokens", {"labels": {"site": "paris"}, "uses": 5})
        assert status == 201 and len(made["id"]) == 16
        status, listed = api(server, "GET", "/api/v1/tokens")
        assert status == 200
        [entry] = [t for t in listed["items"] if t["id"] == made["id"]]
        assert entry["labels"] == {"site": "paris"} and entry["usesLeft"] == 5
        assert made["token"] not in json.dumps(listed), "the token itself is never listed"
        assert upgrade_status(server, made["token"]) == 101

        # An agent enrolled with it carries its labels: the listing filters on them.
        uid = os.urandom(16)

        async def enroll():
            headers = {"Authorization": f"Bearer {made['token']}"}
            async with websockets.connect(server.ws_url, additional_headers=headers) as ws:
                await exchange(ws, msg(uid, 0, full=True))

        run(enroll())
        text = str(uuid.UUID(bytes=uid))
        found = wait_for(lambda: api(server, "GET", "/api/v1/agents?label.site=paris")[1]["items"], what="label")
        assert [a["instanceUid"] for a in found] == [text]
        assert api(server, "GET", "/api/v1/agents?label.site=lyon")[1]["total"] == 0

        assert api(server, "DELETE", f"/api/v1/tokens/{made['id']}")[0] == 204
        assert upgrade_status(server, made["token"]) == 401, "revoked at once"
        assert api(server, "DELETE", f"/api/v1/tokens/{made['id']}")[0] == 404
        audit = wait_for(lambda: (lambda page: page if page["total"] == 2 else None)(
            api(server, "GET", "/api/v1/audit?action=enrollment-token.revoke")[1]), what="two audit entries")
        assert [(e["target"], e["outcome"]) for e in audit["items"]] == [
            (f"/api/v1/tokens/{made['id']}", "failed"), (f"/api/v1/tokens/{made['id']}", "ok")], "newest first"
    finally:
        assert server.stop() == 0


def test_plain_http_agents_take_commands_and_custom_messages_in_their_next_poll(server):
    from test_gateway import post

    uid = os.urandom(16)
    text = str(uuid.UUID(bytes=uid))

    def poll(seq, full=False):
        m = A(instance_uid=uid, sequence_num=seq, capabilities=CAPS | 0x400)  # AcceptsRestartCommand
        if full:
            m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "polling"
            m.custom_capabilities.capabilities.append(CAPABILITY)
        status, _, data = post(server, m.SerializeToString())
        assert status == 200
        reply = S()
        reply.ParseFromString(data)
        return reply

    first = poll(1, full=True)
    assert not first.HasField("command")
    wait_for(lambda: api(server, "GET", f"/api/v1/agents/{text}")[0] == 200, what="the polling agent")
    assert api(server, "POST", f"/api/v1/agents/{text}/restart")[0] == 202
    assert api(server, "POST", f"/api/v1/agents/{text}/report-full-state")[0] == 202
    for data in (b"one", b"two"):
        status, body = api(server, "POST", f"/api/v1/agents/{text}/custom-messages",
                           {"capability": CAPABILITY, "type": "t", "data": base64.b64encode(data).decode()})
        assert status == 202, body
    status, refused = api(server, "POST", f"/api/v1/agents/{text}/disconnect")
    assert status == 409, "a polling agent has no connection to close"

    second = poll(2)
    assert second.command.type == 0  # CommandType_Restart
    assert second.HasField("command") and second.flags & 0x1, "restart and ReportFullState in one reply"
    assert second.custom_message.data == b"one"
    third = poll(3)
    assert third.custom_message.data == b"two", "one custom message per reply, the next one waits"
    assert not third.HasField("command")
    assert not poll(4).HasField("custom_message")
