"""The live event stream (`GET /api/v1/events`, Server-Sent Events) on the real binary: agent
connects and disconnects, rollout progress to completion, filters, resumption with
Last-Event-ID, a `lost` event for a subscriber that fell behind, and a stream that ends when
the server stops.
"""
import http.client
import json
import threading
import time
import uuid

import pytest

from conftest import ADMIN_TOKEN
from test_fleet import api, wait_for
from test_gateway import Server
from test_rollouts import BASE, Fleet, publish


class Stream:
    """One subscriber, read on a thread into a list of (id, kind, data) events."""

    def __init__(self, server, query="", last_event_id=None, token=ADMIN_TOKEN):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/v1/events" + query, headers=headers)
        self.response = self.conn.getresponse()
        self.events = []
        self.ended = threading.Event()
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        fields = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line == "":
                    if "event" in fields:
                        self.events.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
        except (OSError, ValueError, AttributeError):
            pass  # closed by the test, or by the server
        self.ended.set()

    def kinds(self):
        return [kind for _, kind, _ in self.events]

    def close(self):
        self.conn.close()


@pytest.fixture
def server(tmp_path):
    s = Server("--database", f"sqlite:{tmp_path / 'events.db'}")
    yield s
    assert s.stop() == 0


def test_agent_and_rollout_events_reach_their_subscribers(server):
    everything = Stream(server)
    assert everything.response.getheader("Content-Type") == "text/event-stream"
    rollouts_only = Stream(server, "?kind=rollout.progress")
    fleet = Fleet(server, ["prod", "prod", "dev"])
    try:
        uids = [str(uuid.UUID(bytes=a.uid)) for a in fleet.agents]
        wait_for(lambda: everything.kinds().count("agent.connected") == 3, what="three connect events")
        connected = {data["agent"] for _, kind, data in everything.events if kind == "agent.connected"}
        assert connected == set(uids)
        one = Stream(server, f"?agent={uids[0]}")

        publish(server, "base", BASE)
        status, made = api(server, "POST", "/api/v1/rollouts",
                           {"config": "base", "version": 1, "target": {"selector": {"env": "prod"}}})
        assert status == 201, made
        wait_for(lambda: any(d["rollout"]["state"] == "completed" for _, k, d in rollouts_only.events),
                 what="the rollout's completion on the stream")
        progress = [d["rollout"] for _, _, d in rollouts_only.events]
        assert set(rollouts_only.kinds()) == {"rollout.progress"}
        assert all(p["id"] == made["id"] for p in progress)
        assert progress[-1]["counts"]["applied"] == 2 and progress[-1]["counts"]["targets"] == 2
        ids = [int(i) for i, _, _ in rollouts_only.events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        wait_for(lambda: "agent.config" in one.kinds(), what="the agent's config event")
        assert {d["agent"] for _, _, d in one.events} == {uids[0]}, "the agent filter holds"
        assert all(d["agent"] != uids[2] for _, k, d in everything.events if k == "agent.config"), \
            "the dev agent was not targeted"
    finally:
        fleet.close()
    wait_for(lambda: everything.kinds().count("agent.disconnected") == 3, what="three disconnect events")

    # Resuming after an event replays what followed it, in order.
    first_id = int(everything.events[0][0])
    resumed = Stream(server, "", last_event_id=first_id)
    wait_for(lambda: len(resumed.events) >= len(everything.events) - 1, what="the replay")
    assert [e[0] for e in resumed.events[:len(everything.events) - 1]] == [e[0] for e in everything.events[1:]]
    for stream in (everything, rollouts_only, one, resumed):
        stream.close()


def test_bad_subscriptions_are_refused(server):
    for query, header in [("?kind=agent.nothing", None), ("?agent=not-a-uuid", None), ("?color=red", None),
                          ("", "yesterday")]:
        stream = Stream(server, query, last_event_id=header)
        assert stream.response.status == 400, (query, header)
        body = json.loads(stream.response.read())
        assert body["error"]["code"] in ("invalid_parameter", "invalid_last_event_id")
        stream.close()
    stranger = Stream(server, token="amp_nobody")
    assert stranger.response.status == 401
    stranger.close()


def test_a_subscriber_that_fell_behind_learns_what_it_lost(tmp_path):
    server = Server("--database", f"sqlite:{tmp_path / 'small.db'}", "--event-buffer", "4")
    try:
        first = Stream(server)
        fleet = Fleet(server, ["a"])
        wait_for(lambda: first.events, what="a first event")
        fleet.close()
        more = Fleet(server, ["b", "c", "d", "e"])
        more.close()
        # Ten events since the first one, in a ring of four.
        wait_for(lambda: api(server, "GET", "/api/v1/agents?connected=false")[1]["total"] == 5,
                 what="all five agents gone")
        behind = Stream(server, "", last_event_id=int(first.events[0][0]))
        wait_for(lambda: behind.events, what="the lost event")
        kind, data = behind.events[0][1], behind.events[0][2]
        assert kind == "lost" and data["lost"] > 0
        older = Stream(server, "", last_event_id=1)
        wait_for(lambda: older.events, what="the restart notice")
        assert older.events[0][1] == "lost" and older.events[0][2]["lost"] is None
        for stream in (first, behind, older):
            stream.close()
        # A stop does not wait for subscribers: their streams end and the server exits 0.
        open_stream = Stream(server)
        started = time.monotonic()
        assert server.stop() == 0
        assert open_stream.ended.wait(10) and time.monotonic() - started < 10
    finally:
        server.stop()
