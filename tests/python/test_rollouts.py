"""Rollouts against the real `ampora serve`: WebSocket agents that apply configs, fail them,
roll back like the Collector's Supervisor, stall, or turn unhealthy, chosen by a marker in the
config they are sent."""
import asyncio
import time
import uuid

import pytest
import websockets

from opentelemetry._opamp.proto import opamp_pb2

from test_fleet import api, wait_for, Server
from test_gateway import exchange

A = opamp_pb2.AgentToServer
S = opamp_pb2.ServerToAgent
# Status, accepts remote config, effective config, reports remote config, reports health.
CAPS = 0x1 | 0x2 | 0x4 | 0x1000 | 0x800
BASE = b"receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"


def variant(marker):
    """The base config with a comment that tells the test agents how to behave."""
    return BASE + f"# {marker}\n".encode()


class Agent:
    """One agent: applies what it is offered, unless the config says otherwise.

    FAIL: reports FAILED, then goes back to the config it ran (APPLIED for the old hash), as
    the Supervisor does. STALL: never answers. SICK: applies, then reports unhealthy."""

    def __init__(self, server, env, caps=CAPS):
        self.server = server
        self.uid = uuid.uuid4().bytes
        self.env = env
        self.caps = caps
        self.seq = 0
        self.applied = b""
        self.received = []
        self.commands = []
        self.flags = []
        self.closed = None

    def message(self):
        m = A(instance_uid=self.uid, sequence_num=self.seq, capabilities=self.caps)
        self.seq += 1
        return m

    async def run(self, stop):
        async with websockets.connect(self.server.ws_url, max_size=None) as ws:
            m = self.message()
            m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "otelcol"
            m.agent_description.non_identifying_attributes.add(key="env").value.string_value = self.env
            m.health.healthy = True
            m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_UNSET
            reply = await exchange(ws, b"\x00" + m.SerializeToString())
            while not stop.is_set():
                if reply is not None and reply.HasField("remote_config"):
                    await self.handle(ws, reply.remote_config)
                if reply is not None and reply.HasField("command"):
                    self.commands.append(reply.command.type)
                if reply is not None and reply.flags:
                    self.flags.append(reply.flags)
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
                except asyncio.TimeoutError:
                    reply = None
                    continue
                except websockets.ConnectionClosed as e:
                    self.closed = e.rcvd.code if e.rcvd else 1006
                    return
                reply = S()
                reply.ParseFromString(raw[1:])

    async def handle(self, ws, offer):
        body = b"".join(f.body for f in offer.config.config_map.values())
        new = offer.config_hash
        self.received.append(body)
        if b"STALL" in body:
            return
        if b"FAIL" in body:
            await self.status(ws, new, opamp_pb2.RemoteConfigStatuses_FAILED, "the config does not load")
            if self.applied:
                await self.status(ws, self.applied, opamp_pb2.RemoteConfigStatuses_APPLIED)
            return
        await self.status(ws, new, opamp_pb2.RemoteConfigStatuses_APPLYING)
        await self.status(ws, new, opamp_pb2.RemoteConfigStatuses_APPLIED, healthy=b"SICK" not in body)
        self.applied = new

    async def status(self, ws, config_hash, status, error="", healthy=None):
        m = self.message()
        m.remote_config_status.last_remote_config_hash = config_hash
        m.remote_config_status.status = status
        m.remote_config_status.error_message = error
        if healthy is not None:
            m.health.healthy = healthy
            if not healthy:
                m.health.last_error = "exporter queue full"
        await ws.send(b"\x00" + m.SerializeToString())


class Fleet:
    """N agents on their own event loop thread, for a test's duration."""

    def __init__(self, server, envs, caps=None):
        import threading
        self.agents = [Agent(server, env, (caps or {}).get(i, CAPS)) for i, env in enumerate(envs)]
        self.loop = asyncio.new_event_loop()
        self.stop_event = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()

        async def main():
            tasks = [asyncio.create_task(a.run(self.stop_event)) for a in self.agents]
            await asyncio.sleep(0.5)
            self.ready.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.loop.run_until_complete(main())

    def close(self):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def publish(server, name, body):
    status, config = api(server, "PUT", f"/api/v1/configs/{name}", body, {"Content-Type": "text/yaml"})
    assert status == 200, config
    return config


def rollout(server, rid):
    status, body = api(server, "GET", f"/api/v1/rollouts/{rid}")
    assert status == 200, body
    return body


@pytest.fixture
def server():
    s = Server("--config-apply-timeout", "2")
    yield s
    assert s.stop() == 0


def test_a_failing_canary_pauses_before_the_next_stage_and_rollback_restores(server):
    fleet = Fleet(server, ["canary"] * 3 + ["prod"] * 12)
    try:
        base = publish(server, "gw", BASE)
        status, _ = api(server, "POST", "/api/v1/assignments", {"config": "gw", "selector": {}})
        assert status == 201
        wait_for(lambda: all(a.applied for a in fleet.agents), what="every agent to apply the base config")
        bad = publish(server, "gw", variant("FAIL"))
        status, created = api(server, "POST", "/api/v1/rollouts", {
            "config": "gw", "version": bad["version"], "target": {"selector": {}},
            "stages": [{"selector": {"env": "canary"}}, {"percent": 50}, {"percent": 100}],
            "gates": {"maxFailed": 0}})
        assert status == 201, created
        assert created["stages"] == 3 and created["stage"] == 1 and created["counts"]["targets"] == 15
        wait_for(lambda: rollout(server, created["id"])["state"] == "paused", what="the gate to pause the rollout")
        paused = rollout(server, created["id"])
        assert "failed" in paused["reason"] and paused["stage"] == 1
        # The gate may trip on the first failure, before every canary has gone back.
        wait_for(lambda: rollout(server, created["id"])["counts"]["rolledBack"] == 3,
                 what="the Supervisor-style rollback of every canary")
        paused = rollout(server, created["id"])
        assert all(not any(b"FAIL" in r for r in a.received) for a in fleet.agents if a.env == "prod"), \
            "no agent outside the canary received the version"
        status, page = api(server, "GET", "/api/v1/agents?configState=ROLLED_BACK")
        assert status == 200 and page["total"] == 3
        assert page["items"][0]["configState"] == "ROLLED_BACK"

        # A stale ETag is refused; the current one pauses, resumes, rolls back.
        status, _ = api(server, "POST", f"/api/v1/rollouts/{created['id']}/resume", b"", {"If-Match": '"999"'})
        assert status == 412
        status, back = api(server, "POST", f"/api/v1/rollouts/{created['id']}/rollback", b"",
                           {"If-Match": f'"{paused["etag"]}"'})
        assert status == 201 and back["rollbackOf"] == created["id"], back
        assert rollout(server, created["id"])["state"] == "rolled_back"
        wait_for(lambda: rollout(server, back["id"])["state"] == "completed", what="the rollback to complete")
        for a in fleet.agents:
            assert a.applied == bytes.fromhex(base["hash"])
    finally:
        fleet.close()


def test_configs_count_their_agents_by_state_and_version(server):
    """A config counts the agents tracked towards each of its versions, kept as agents change
    state: the config as a whole (every state listed) and each version (states with agents)."""
    fleet = Fleet(server, ["canary"] * 2 + ["prod"] * 4)
    try:
        base = publish(server, "counted", BASE)
        publish(server, "idle", variant("nobody runs this"))
        status, _ = api(server, "POST", "/api/v1/assignments", {"config": "counted", "selector": {}})
        assert status == 201
        states = lambda name: api(server, "GET", f"/api/v1/configs/{name}")[1]["configStates"]
        wait_for(lambda: states("counted")["APPLIED"] == 6, what="six agents counted APPLIED")
        counted = states("counted")
        assert set(counted) == {"PENDING", "APPLYING", "APPLIED", "FAILED", "INCOMPATIBLE", "STALLED",
                                "ROLLED_BACK", "DRIFTED"}
        assert sum(counted.values()) == 6
        assert sum(states("idle").values()) == 0, "another config's agents are not counted"

        bad = publish(server, "counted", variant("FAIL"))
        status, created = api(server, "POST", "/api/v1/rollouts", {
            "config": "counted", "version": bad["version"], "target": {"selector": {}},
            "stages": [{"selector": {"env": "canary"}}, {"percent": 100}], "gates": {"maxFailed": 0}})
        assert status == 201, created
        wait_for(lambda: rollout(server, created["id"])["counts"]["rolledBack"] == 2,
                 what="both canaries to roll back")
        # A canary is not offered the version it failed again (resent on every report of another
        # hash, a Supervisor would fail and roll back in a loop); the fleet then offers it what
        # it went back to.
        time.sleep(1.0)
        for a in fleet.agents:
            if a.env == "canary":
                tries = sum(b"FAIL" in r for r in a.received)
                assert tries == 1, f"a canary was offered the failing version {tries} times"
        status, versions = api(server, "GET", "/api/v1/configs/counted/versions")
        assert status == 200
        by_version = {item["version"]: item["configStates"] for item in versions["items"]}
        assert by_version[bad["version"]] == {"ROLLED_BACK": 2}
        assert by_version[base["version"]] == {"APPLIED": 4}
        counted = states("counted")
        assert counted["APPLIED"] == 4 and counted["ROLLED_BACK"] == 2 and sum(counted.values()) == 6
    finally:
        fleet.close()


def test_stages_advance_and_a_stalled_stage_pauses(server):
    fleet = Fleet(server, ["prod"] * 8)
    try:
        publish(server, "edge", BASE)
        good = publish(server, "edge", variant("v2"))
        status, done = api(server, "POST", "/api/v1/rollouts", {
            "config": "edge", "version": good["version"], "target": {"selector": {"env": "prod"}},
            "stages": [{"count": 2}, {"count": 2}], "soakSeconds": 1})
        assert status == 201, done
        wait_for(lambda: rollout(server, done["id"])["state"] == "completed", timeout=20,
                 what="three stages with a 1 s soak each")
        final = rollout(server, done["id"])
        assert final["counts"]["applied"] == 8 and final["stage"] == 3
        stall = publish(server, "edge", variant("STALL"))
        status, stalled = api(server, "POST", "/api/v1/rollouts", {
            "config": "edge", "version": stall["version"], "target": {"selector": {}},
            "stages": [{"count": 2}], "gates": {"maxStalled": "0%"}})
        assert status == 201
        assert stalled["superseded"] == {}, "the completed rollout had nothing left to take over"
        wait_for(lambda: rollout(server, stalled["id"])["state"] == "paused", timeout=15,
                 what="the apply timeout (2 s) to stall the first stage")
        assert rollout(server, stalled["id"])["counts"]["stalled"] == 2
        assert sum(1 for a in fleet.agents if any(b"STALL" in r for r in a.received)) == 2
    finally:
        fleet.close()


@pytest.mark.parametrize("body,status,code", [
    ({"config": "gw", "version": 1, "target": {"selector": {"env": "none"}}}, 422, "empty_target"),
    ({"config": "gw", "version": 7, "target": {"selector": {}}}, 404, "version_not_found"),
    ({"config": "nope", "version": 1, "target": {"selector": {}}}, 404, "version_not_found"),
    ({"config": "gw", "version": 1, "target": {}}, 400, "invalid_field"),
    ({"config": "gw", "version": 1, "target": {"selector": {}}, "stages": [{"percent": 0}]}, 400, "invalid_field"),
    ({"config": "gw", "version": 1, "target": {"selector": {}}, "gates": {"maxFailed": "x%"}}, 400, "invalid_field"),
    ({"config": "gw", "version": 1, "target": {"group": "g"}}, 404, "group_not_found"),
    ({"config": "gw", "version": 1, "target": {"selector": {}}, "colour": 1}, 400, "invalid_field"),
])
def test_bad_rollouts_are_refused(server, body, status, code):
    publish(server, "gw", BASE)
    got, answer = api(server, "POST", "/api/v1/rollouts", body)
    assert got == status and answer["error"]["code"] == code, answer
    assert api(server, "GET", "/api/v1/rollouts/none")[0] == 404
    assert api(server, "POST", "/api/v1/rollouts/none/pause", b"")[0] == 404


def test_groups_target_rollouts_and_count_their_members(server):
    fleet = Fleet(server, ["canary", "canary", "prod", "prod", "prod"])
    try:
        status, group = api(server, "PUT", "/api/v1/groups/canaries",
                            {"selector": {"env": "canary"}, "description": "first to get anything"})
        assert status == 200 and group["members"]["total"] == 2 and group["members"]["connected"] == 2
        assert api(server, "PUT", "/api/v1/groups/bad%20name", {"selector": {}})[0] == 422
        assert api(server, "PUT", "/api/v1/groups/x", {"selector": {"a": 1}})[0] == 400
        v = publish(server, "g", BASE)
        status, created = api(server, "POST", "/api/v1/rollouts",
                              {"config": "g", "version": v["version"], "target": {"group": "canaries"}})
        assert status == 201 and created["counts"]["targets"] == 2
        wait_for(lambda: rollout(server, created["id"])["state"] == "completed", what="the group's rollout")
        _, listing = api(server, "GET", "/api/v1/groups")
        assert [g["name"] for g in listing["items"]] == ["canaries"]
        assert listing["items"][0]["members"]["configStates"] == {"APPLIED": 2}
        assert api(server, "DELETE", "/api/v1/groups/canaries")[0] == 204
        assert api(server, "GET", "/api/v1/groups/canaries")[0] == 404
        assert api(server, "DELETE", "/api/v1/groups/canaries")[0] == 404
    finally:
        fleet.close()


def test_commands_reach_agents_that_can_take_them(server):
    restartable = CAPS | 0x400  # AcceptsRestartCommand
    fleet = Fleet(server, ["prod"] * 4, caps={0: restartable, 1: restartable})
    try:
        uids = [str(uuid.UUID(bytes=a.uid)) for a in fleet.agents]
        wait_for(lambda: api(server, "GET", "/api/v1/agents?connected=true")[1]["total"] == 4, what="the agents")
        status, sent = api(server, "POST", f"/api/v1/agents/{uids[0]}/restart", b"")
        assert status == 202 and sent["sent"] is True
        status, refused = api(server, "POST", f"/api/v1/agents/{uids[2]}/restart", b"")
        assert status == 409 and "AcceptsRestartCommand" in refused["error"]["message"]
        assert api(server, "POST", f"/api/v1/agents/{uuid.uuid4()}/restart", b"")[0] == 404
        status, many = api(server, "POST", "/api/v1/agents/commands", {"command": "restart", "selector": {}})
        assert status == 202 and many["sent"] == 2 and many["skippedTotal"] == 2
        assert api(server, "POST", f"/api/v1/agents/{uids[3]}/report-full-state", b"")[0] == 202
        wait_for(lambda: fleet.agents[0].commands == [opamp_pb2.CommandType_Restart] * 2, what="two restarts")
        assert fleet.agents[1].commands == [opamp_pb2.CommandType_Restart] and not fleet.agents[2].commands
        wait_for(lambda: fleet.agents[3].flags, what="the ReportFullState flag")
        assert api(server, "POST", f"/api/v1/agents/{uids[2]}/disconnect", b"")[0] == 202
        wait_for(lambda: fleet.agents[2].closed == 1000, what="the operator's disconnect")
    finally:
        fleet.close()


def test_a_drifted_agent_is_listed_and_reconciled(server):
    fleet = Fleet(server, ["prod"])
    try:
        publish(server, "d", BASE)
        assert api(server, "POST", "/api/v1/assignments", {"config": "d", "selector": {}})[0] == 201
        agent = fleet.agents[0]
        wait_for(lambda: agent.applied, what="the agent to apply")
        uid = str(uuid.UUID(bytes=agent.uid))
        wait_for(lambda: api(server, "GET", f"/api/v1/agents/{uid}")[1].get("configState") == "APPLIED",
                 what="APPLIED")

        async def drift():
            # The same agent, over a second connection it opens after losing the first, says it
            # runs a config nobody gave it.
            m = agent.message()
            m.remote_config_status.last_remote_config_hash = b"\x01" * 32
            m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_APPLIED
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(b"\x00" + m.SerializeToString())
                await ws.recv()
        fleet.close()
        asyncio.run(drift())
        wait_for(lambda: api(server, "GET", "/api/v1/agents?configState=DRIFTED")[1]["total"] == 1, what="DRIFTED")
        fleet = Fleet(server, [])
        status, _ = api(server, "POST", f"/api/v1/agents/{uid}/reconcile", b"")
        assert status == 409, "not connected any more: refused, not silently dropped"
    finally:
        fleet.close()
