"""Several `ampora serve` instances on one PostgreSQL, behind HAProxy: agents spread over them,
one leader for the periodic work that moves when it dies, each agent's row owned by its newest
connection (the old owner's late writes refused), and one server per SQLite file.
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import websockets

from conftest import bin_dir
from test_fleet import api, fresh_database, full_message, metrics, run, sql, wait_for, wait_written
from test_gateway import A, Server, exchange

LEASE = "2s"


def needs_postgres():
    if not (os.environ.get("AMPORA_TEST_POSTGRES_URL") or os.environ.get("CI") == "true"):
        pytest.skip("needs PostgreSQL (run the tests with `make test`)")


def instance(database, name, *args):
    server = Server("--database", database, "--instance-id", name, "--leader-lease", LEASE, *args)
    server.instance_id = name
    return server


def pair(tmp_path, *args):
    """Instances a and b on a fresh database, and a uid (bytes, text) for the test's agent."""
    needs_postgres()
    database = fresh_database("postgres", tmp_path)
    a = instance(database, "a", *args)
    try:
        b = instance(database, "b", *args)
    except BaseException:
        a.stop()
        raise
    uid = uuid.uuid4().bytes
    return database, a, b, uid, str(uuid.UUID(bytes=uid))


def instances_view(server):
    status, body = api(server, "GET", "/api/v1/instances")
    assert status == 200, body
    return {item["id"]: item for item in body["items"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HAProxy:
    """A TCP balancer in front of the instances' agent ports, checking each every 300 ms. With
    `log`, it writes one line per connection when it ends (the client's port and the server it
    went to), and `landed(port)` tells which of `servers` a connection from that port reached."""

    def __init__(self, servers, log=False):
        if shutil.which("haproxy") is None:
            pytest.fail("haproxy is not installed (scripts/bootstrap.sh --test installs it)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ampora-haproxy-")
        self.servers = servers
        backends = "\n".join(f"    server s{i} 127.0.0.1:{s.opamp_port} check inter 300ms fall 1 rise 1"
                             for i, s in enumerate(servers))
        logging = (("    log stdout format raw local0\n", '    log global\n    log-format "%cp %s"\n') if log
                   else ("", ""))
        config = f"""global
    maxconn 4000
{logging[0]}defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
frontend agents
    bind 127.0.0.1:{self.port}
{logging[1]}    default_backend ampora
backend ampora
    balance roundrobin
{backends}
"""
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        check = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log_path = os.path.join(self.dir, "connections.log")
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=out if log else subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        wait_for(lambda: self._accepts(), timeout=10, what="haproxy to listen")
        self.url = f"ws://127.0.0.1:{self.port}/v1/opamp"

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def landed(self, port):
        """The server a finished connection from client port `port` went to (waits for its line)."""
        def seen():
            with open(self.log_path) as f:
                found = [line.split()[1] for line in f if line.split()[:1] == [str(port)]]
            return found and found[-1]
        name = wait_for(seen, timeout=5, what=f"haproxy's line for the connection from port {port}")
        assert name.startswith("s"), name
        return self.servers[int(name[1:])]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def owners(database):
    rows = sql(database, "SELECT owner, COUNT(*) FROM agents WHERE connected = 1 GROUP BY owner")
    return {owner: int(n) for owner, n in rows}


async def connect_through(url, uid, seq=1):
    ws = await websockets.connect(url, max_size=None, open_timeout=5)
    reply = await exchange(ws, full_message(uid, seq))
    assert reply.instance_uid == uid
    return ws


def test_three_instances_behind_haproxy_and_the_leader_dies(tmp_path):
    needs_postgres()
    database = fresh_database("postgres", tmp_path)
    servers = [instance(database, f"i{n}") for n in range(3)]
    proxy = None
    try:
        proxy = HAProxy(servers)
        uids = [uuid.uuid4().bytes for _ in range(60)]

        async def spread():
            return [await connect_through(proxy.url, u) for u in uids]

        loop = asyncio.new_event_loop()
        sockets = loop.run_until_complete(asyncio.wait_for(spread(), 60))
        for s in servers:
            wait_written(s)
        spread_over = owners(database)
        assert set(spread_over) == {"i0", "i1", "i2"}, spread_over
        assert sum(spread_over.values()) == 60 and min(spread_over.values()) >= 15, spread_over

        # Every instance sees the same three, alive, and one leader among them.
        def settled():
            views = [instances_view(s) for s in servers]
            return all(set(v) == {"i0", "i1", "i2"} and all(i["alive"] for i in v.values())
                       and sum(i["leader"] for i in v.values()) == 1
                       and {k: i["agents"] for k, i in v.items()} == spread_over for v in views) and views[0]
        view = wait_for(settled, timeout=15, what="three instances, one leader, agents counted")
        leader = next(k for k, i in view.items() if i["leader"])
        assert view[leader]["address"].startswith("127.0.0.1:")
        m = metrics(servers[int(leader[1])])
        assert m["ampora_cluster_leader"] == 1
        assert sum(metrics(s)["ampora_cluster_leader"] for s in servers) == 1

        # Every instance lists and counts the whole fleet, each agent with the instance holding it.
        def whole_fleet(server):
            status, page = api(server, "GET", "/api/v1/agents?connected=true&limit=1000")
            return status == 200 and page["total"] == 60 and page
        for s in servers:
            page = wait_for(lambda: whole_fleet(s), timeout=15, what="every agent listed on every instance")
            held = {item["instanceUid"]: item["instance"] for item in page["items"]}
            assert sorted(held.values()).count("i0") == spread_over["i0"]
            _, facets = api(s, "GET", "/api/v1/agents/facets")
            assert facets["connected"] == 60

        # An agent's item names the instance that holds it.
        some = str(uuid.UUID(bytes=uids[0]))
        holder = sql(database, f"SELECT owner FROM agents WHERE uid = '{some}'")[0][0]
        for s in servers:
            status, item = api(s, "GET", f"/api/v1/agents/{some}")
            assert status == 200 and item["instance"] == holder and item["connected"]

        # kill -9 the leader: another leads within the lease, and the dead one's agents come back
        # through the balancer to the other two.
        victim = servers[int(leader[1])]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        killed_at = time.time()
        survivors = [s for s in servers if s is not victim]

        def new_leader():
            v = instances_view(survivors[0])
            leaders = [k for k, i in v.items() if i["leader"]]
            return len(leaders) == 1 and leaders[0] != leader and not v[leader]["alive"] and leaders[0]
        successor = wait_for(new_leader, timeout=15, what="a new leader")
        took = time.time() - killed_at
        assert took < 12, f"leadership moved after {took:.1f} s"
        assert sum(metrics(s)["ampora_cluster_leader"] for s in survivors) == 1
        assert successor in ("i0", "i1", "i2")

        lost = [u for u, ws in zip(uids, sockets)
                if sql(database, f"SELECT owner FROM agents WHERE uid = '{uuid.UUID(bytes=u)}'")[0][0] == leader]
        assert lost

        async def come_back():
            back = []
            for u in lost:
                deadline = time.time() + 20
                while True:
                    try:
                        back.append(await connect_through(proxy.url, u, seq=2))
                        break
                    except (OSError, websockets.exceptions.WebSocketException, asyncio.TimeoutError):
                        assert time.time() < deadline, "an agent could not reconnect through the balancer"
                        await asyncio.sleep(0.2)
            return back
        back = loop.run_until_complete(asyncio.wait_for(come_back(), 60))
        for s in survivors:
            wait_written(s)
        after = owners(database)
        assert leader not in after and sum(after.values()) == 60, after
        for s in survivors:
            page = wait_for(lambda: whole_fleet(s), timeout=15, what="the moved agents listed on the survivors")
            assert leader not in {item["instance"] for item in page["items"]}
        assert time.time() - killed_at < 30
        # Their history survived, and nothing is owned twice (one row per agent).
        assert sql(database, "SELECT COUNT(*) FROM agents")[0][0] in (60, "60")
        assert int(sql(database, f"SELECT COUNT(*) FROM agent_history WHERE uid = '{uuid.UUID(bytes=lost[0])}'"
                       " AND kind = 'connected'")[0][0]) >= 2
        for ws in sockets + back:
            loop.run_until_complete(ws.close())
        loop.close()
    finally:
        if proxy:
            proxy.stop()
        for s in servers:
            if s.proc.poll() is None:
                assert s.stop() == 0


def test_agents_of_a_silent_instance_are_shown_disconnected_by_the_leader(tmp_path):
    needs_postgres()
    database = fresh_database("postgres", tmp_path)
    a, b = instance(database, "a"), instance(database, "b")
    try:
        uid = uuid.uuid4().bytes

        async def hold():
            return await connect_through(b.ws_url, uid)
        loop = asyncio.new_event_loop()
        ws = loop.run_until_complete(hold())
        wait_written(b)
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        # b's agent still reads connected in the database; once b has been silent for two
        # leases, the leader (a, the only one left) marks it disconnected.
        wait_for(lambda: sql(database, f"SELECT connected FROM agents WHERE uid = '{uuid.UUID(bytes=uid)}'")[0][0]
                 in (0, "0"), timeout=15, what="the silent instance's agent released")
        assert instances_view(a)["a"]["leader"]
        loop.run_until_complete(ws.close())
        loop.close()
    finally:
        for s in (a, b):
            if s.proc.poll() is None:
                assert s.stop() == 0


def test_the_old_owners_late_writes_are_refused_by_the_fence(tmp_path):
    """An agent moves from a to b: a's view of its old connection's end is refused (a's late
    writes for a held-elsewhere agent never reach the row); a message heard by a later (a
    plain-HTTP agent's next poll may land anywhere) claims it back, newest first."""
    needs_postgres()
    database = fresh_database("postgres", tmp_path)
    a, b = instance(database, "a"), instance(database, "b")
    try:
        uid = uuid.uuid4().bytes
        key = str(uuid.UUID(bytes=uid))

        async def go():
            on_a = await connect_through(a.ws_url, uid)
            wait_written(a)
            assert sql(database, f"SELECT owner FROM agents WHERE uid = '{key}'")[0][0] == "a"
            time.sleep(0.05)  # a newer connection, by the clock
            on_b = await connect_through(b.ws_url, uid, seq=1)
            wait_written(b)
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("b", "1")
            # a's old connection ends now: that end is not written over b's claim (refused in
            # a's inventory once it follows b's row, or by the fence in the database before).
            await on_a.close()
            wait_for(lambda: metrics(a)["ampora_fleet_fenced_writes_total"] >= 1, what="a's write fenced off")
            wait_written(a)
            row = sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0]
            assert row == ("b", "1"), "the row keeps the newest connection's claim"
            # Every instance shows it held by b.
            for s in (a, b):
                item = wait_for(lambda: api(s, "GET", f"/api/v1/agents/{key}")[1]["instance"] == "b",
                                what="the agent shown held by b")
                assert item
            assert metrics(b)["ampora_fleet_fenced_writes_total"] == 0
            # A message heard on a now (a new connection) claims the agent back for a.
            again = await connect_through(a.ws_url, uid, seq=1)
            wait_written(a)
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("a", "1")
            await on_b.close()
            wait_written(b)
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("a", "1"), \
                "b's end of its older connection is refused in turn"
            await again.close()
            wait_written(a)
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("a", "0")
        run(go())
    finally:
        for s in (a, b):
            assert s.stop() == 0


def test_a_second_server_on_one_sqlite_file_is_refused(tmp_path):
    first = Server("--database", f"sqlite:{tmp_path / 'one.db'}")
    try:
        out = subprocess.run(
            [str(bin_dir() / "ampora"), "serve", "--opamp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
             "--database", f"sqlite:{tmp_path / 'one.db'}"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 1
        assert "in use by another ampora serve" in out.stderr + out.stdout
        assert first.proc.poll() is None, "the first server goes on"
        # Other tools still open the file while it serves.
        token = subprocess.run([str(bin_dir() / "ampora"), "token", "list", "--database",
                                f"sqlite:{tmp_path / 'one.db'}"], capture_output=True, text=True, timeout=30)
        assert token.returncode == 0, token.stderr
    finally:
        assert first.stop() == 0


class CuttablePipe:
    """A TCP forwarder to PostgreSQL that the test can cut (every connection closed, new ones
    refused) and restore: one instance's database goes out of reach while the others' stays."""

    def __init__(self, target_port):
        import threading
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut_off = False
        self.open = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.cut_off = True
        with self.lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.open = []

    def restore(self):
        self.cut_off = False

    def close(self):
        self.cut()
        self.listener.close()


def test_an_instance_cut_off_from_postgres_lets_its_agents_go_and_takes_them_back_later(tmp_path):
    needs_postgres()
    database = fresh_database("postgres", tmp_path)
    host_port = database.split("@", 1)[1].split("/", 1)[0]
    pg_port = int(host_port.rsplit(":", 1)[1])
    pipe = CuttablePipe(pg_port)
    through_pipe = database.replace(host_port, f"127.0.0.1:{pipe.port}")
    a = instance(through_pipe, "a", "--ownership-grace", "2s")
    b = instance(database, "b")
    uid = uuid.uuid4().bytes
    key = str(uuid.UUID(bytes=uid))
    try:
        async def go():
            ws = await connect_through(a.ws_url, uid)
            wait_written(a)
            pipe.cut()
            # Past the grace a closes the agent with 1001: it goes elsewhere.
            cut_at = time.time()
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
            assert time.time() - cut_at >= 1.5, "not before the grace"
            # While cut off, a turns every agent away with UNAVAILABLE and a retry hint.
            other = await websockets.connect(a.ws_url)
            reply = await exchange(other, full_message(uuid.uuid4().bytes, 1))
            assert reply.error_response.type == 2, reply  # UNAVAILABLE
            assert reply.error_response.HasField("retry_info")
            await other.close()
            # The agent lands on b, which records it.
            moved = await connect_through(b.ws_url, uid, seq=2)
            wait_written(b)
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("b", "1")
            # The database comes back to a: it admits agents again, and what it kept for the
            # agent that left (its "disconnected") is refused by the fence, not written over b's.
            pipe.restore()
            wait_for(lambda: metrics(a)["ampora_persistence_healthy"] == 1, timeout=20, what="a's writes back")
            wait_written(a)
            assert metrics(a)["ampora_fleet_fenced_writes_total"] >= 1
            assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{key}'")[0] == ("b", "1")
            deadline = time.time() + 15
            while True:
                fresh = await websockets.connect(a.ws_url)
                reply = await exchange(fresh, full_message(uuid.uuid4().bytes, 1))
                await fresh.close()
                if not reply.HasField("error_response"):
                    break
                assert time.time() < deadline, "a admits agents again once its database is back"
                await asyncio.sleep(0.3)
            m = metrics(a)
            assert m['ampora_opamp_messages_rejected_total{reason="cut_off"}'] >= 1
            assert m["ampora_agents_released_total"] == 1
            await moved.close()
        run(go(), timeout=120)
    finally:
        pipe.close()
        for s in (a, b):
            assert s.stop() == 0


def test_operator_actions_on_one_instance_reach_agents_held_by_another(tmp_path):
    """Through a: a config assigned, a restart, a command by selector and a custom message; the
    agent is held by b, which gets each from a through PostgreSQL and delivers it."""
    needs_postgres()
    from test_fleet import COLLECTOR_CONFIG
    database = fresh_database("postgres", tmp_path)
    capability = "io.example.cluster"
    a = instance(database, "a", "--custom-capability", capability)
    b = instance(database, "b", "--custom-capability", capability)
    uid = uuid.uuid4().bytes
    key = str(uuid.UUID(bytes=uid))
    try:
        async def go():
            ws = await websockets.connect(b.ws_url)
            m = A(instance_uid=uid, sequence_num=1, capabilities=0x1 | 0x2 | 0x4 | 0x400 | 0x1000)
            m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "held-by-b"
            m.custom_capabilities.capabilities.append(capability)
            await exchange(ws, b"\x00" + m.SerializeToString())
            wait_written(b)
            # a follows b's agent, then acts on it.
            wait_for(lambda: api(a, "GET", f"/api/v1/agents/{key}")[0] == 200, what="a to know b's agent")

            async def next_push(what):
                raw = await asyncio.wait_for(ws.recv(), 15)
                reply = __import__("test_gateway").S()
                reply.ParseFromString(raw[1:])
                assert reply.instance_uid == uid, what
                return reply

            status, _ = api(a, "PUT", "/api/v1/configs/from-a", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})
            assert status == 200
            status, body = api(a, "POST", "/api/v1/assignments",
                               {"config": "from-a", "selector": {"service.name": "held-by-b"}})
            assert status in (200, 201), body
            pushed = await next_push("the config assigned on a")
            assert pushed.remote_config.config.config_map[""].body == COLLECTOR_CONFIG

            status, body = api(a, "POST", f"/api/v1/agents/{key}/restart")
            assert status in (200, 202), body
            assert (await next_push("the restart sent through a")).command.type == 0  # Restart

            status, body = api(a, "POST", "/api/v1/agents/commands",
                               {"command": "reportFullState", "selector": {"service.name": "held-by-b"}})
            assert status in (200, 202) and body["sent"] == 1, body
            assert (await next_push("the command by selector")).flags & 0x1  # ReportFullState

            status, body = api(a, "POST", f"/api/v1/agents/{key}/custom-messages",
                               {"capability": capability, "type": "ping", "data": "aGk="})
            assert status in (200, 202), body
            message = (await next_push("the custom message")).custom_message
            assert (message.capability, message.type, message.data) == (capability, "ping", b"hi")
            await ws.close()
        run(go(), timeout=120)
    finally:
        for s in (a, b):
            assert s.stop() == 0


def test_a_plain_http_agent_may_poll_any_instance(tmp_path):
    """A polling agent whose polls land on a, b, a, b…: each instance serves it from what the
    others wrote (no full report asked after the first), its row follows the newest poll, and
    each poll's status is listed on both."""
    database, a, b, uid, key = pair(tmp_path)
    try:
        def poll(server, seq, full=False, healthy=True):
            m = A(instance_uid=uid, sequence_num=seq, capabilities=0x1 | 0x4 | 0x800)
            if full:
                m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "poller"
                m.effective_config.config_map.config_map[""].body = b"receivers: {}\n"
            m.health.healthy = healthy
            m.health.last_error = "" if healthy else f"poll {seq}"
            return exchange_poll(server, m)

        poll(a, 1, full=True)
        wait_written(a)
        for seq in range(2, 8):
            server = b if seq % 2 == 0 else a
            # The other instance's row is followed first (within a fraction of a second).
            other = a if server is b else b
            wait_for(lambda: api(server, "GET", f"/api/v1/agents/{key}")[1].get("instance") == other.instance_id,
                     what=f"poll {seq}'s instance to follow the last poll")
            reply = poll(server, seq, healthy=seq % 3 != 0)
            assert not reply.flags & 0x1, f"poll {seq} was asked for a full report"
            wait_written(server)
            assert sql(database, f"SELECT owner FROM agents WHERE uid = '{key}'")[0][0] == server.instance_id
        for s in (a, b):
            detail = wait_for(lambda: (lambda d: d if d.get("healthy") is True else None)(
                api(s, "GET", f"/api/v1/agents/{key}")[1]), what="the last poll's health on both")
            assert detail["connected"]
    finally:
        for s in (a, b):
            assert s.stop() == 0


def exchange_poll(server, m, headers=None):
    """Posts a polling agent's message to `server`; the reply, which must not be an error."""
    from test_gateway import S, post
    status, _, data = post(server, m.SerializeToString(), headers)
    assert status == 200
    reply = S()
    reply.ParseFromString(data)
    assert not reply.HasField("error_response"), reply
    return reply


def poll_message(uid, seq, caps, name, full=False, applied=None):
    """A polling agent's message: with `full`, its description, effective config and an unset
    remote config status; with `applied`, the hash (hex) it reports APPLIED."""
    from opentelemetry._opamp.proto import opamp_pb2
    m = A(instance_uid=uid, sequence_num=seq, capabilities=caps)
    if full:
        m.agent_description.identifying_attributes.add(key="service.name").value.string_value = name
        m.effective_config.config_map.config_map[""].body = b"receivers: {}\n"
        m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_UNSET
    if applied:
        m.remote_config_status.last_remote_config_hash = bytes.fromhex(applied)
        m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_APPLIED
    return m


def test_a_poller_that_applied_its_config_is_not_offered_it_again_on_another_instance(tmp_path):
    """A poller gets a config from a and reports it applied on b; once both show it APPLIED, its
    next poll on a carries no remote_config (what it applied is in the fleet, like the rest)."""
    from test_fleet import COLLECTOR_CONFIG
    database, a, b, uid, key = pair(tmp_path)
    caps = 0x1 | 0x2 | 0x4 | 0x1000
    try:
        def poll(server, seq, full=False, applied=None):
            m = poll_message(uid, seq, caps, "reoffer", full, applied)
            return exchange_poll(server, m, {"OpAMP-Instance-UID": key})

        poll(a, 1, full=True)
        status, config = api(a, "PUT", "/api/v1/configs/reoffer", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})
        assert status == 200
        status, body = api(a, "POST", "/api/v1/assignments",
                           {"config": "reoffer", "selector": {"service.name": "reoffer"}})
        assert status in (200, 201), body
        offered = poll(a, 2)
        assert offered.remote_config.config_hash.hex() == config["hash"], offered
        wait_written(a)
        wait_for(lambda: api(b, "GET", f"/api/v1/agents/{key}")[1].get("instance") == "a", what="b to follow a")
        assert not poll(b, 3, applied=config["hash"]).flags & 0x1
        wait_written(b)
        for s in (a, b):
            wait_for(lambda: (lambda d: d.get("instance") == "b" and d.get("configState") == "APPLIED")(
                api(s, "GET", f"/api/v1/agents/{key}")[1]), what="the agent held by b, APPLIED, on both")
        again = poll(a, 4)
        assert not again.flags & 0x1, "not asked for a full report"
        assert not again.HasField("remote_config"), "the applied config offered again"
    finally:
        for s in (a, b):
            assert s.stop() == 0


def test_a_poll_without_a_body_uid_is_the_header_agents_on_any_instance(tmp_path):
    """H3: a poll whose body has no uid (asking for one) names its agent in OpAMP-Instance-UID.
    On b, which never served the agent, it is that agent's all the same: its health is
    recorded for it, as on a, and it gets a new uid (S10)."""
    database, a, b, uid, key = pair(tmp_path)
    try:
        def poll(server, body_uid, seq, error, full=False):
            m = A(instance_uid=body_uid, sequence_num=seq, capabilities=0x1 | 0x800)
            if not body_uid:
                m.flags = 0x1  # RequestInstanceUid
            if full:
                m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "h3"
            m.health.healthy = False
            m.health.last_error = error
            return exchange_poll(server, m, {"OpAMP-Instance-UID": key})

        poll(a, uid, 1, "first", full=True)
        wait_written(a)
        for server, error in ((a, "on a"), (b, "on b")):
            reply = poll(server, b"", 2, error)
            assert len(reply.agent_identification.new_instance_uid) == 16, "S10: a new uid is offered"
            wait_written(server)
            detail = wait_for(lambda: (lambda d: d if (d.get("health") or {}).get("lastError") == error else None)(
                api(server, "GET", f"/api/v1/agents/{key}")[1]), what=f"the header agent's health {error}")
            assert detail["instance"] == server.instance_id
    finally:
        for s in (a, b):
            assert s.stop() == 0


def test_http_and_websocket_agents_spread_over_three_instances_through_haproxy(tmp_path):
    """Five plain-HTTP pollers (each poll a new TCP connection, naming the agent in the
    OpAMP-Instance-UID header too) and six WebSocket agents through one round-robin HAProxy to
    three instances: every instance lists each agent once, connected; polls after the first are
    never asked for a full report wherever they land; a poller's row names the instance its last
    poll reached (haproxy's log says which); a config assigned through one instance reaches
    both kinds of agent, and every instance shows it applied by all."""
    needs_postgres()
    import http.client
    from opentelemetry._opamp.proto import opamp_pb2
    from test_fleet import CAPS, COLLECTOR_CONFIG
    from test_gateway import S
    started = time.time()
    database = fresh_database("postgres", tmp_path)
    servers = [instance(database, f"i{n}") for n in range(3)]
    proxy = None
    loop = asyncio.new_event_loop()
    sockets = []
    try:
        proxy = HAProxy(servers, log=True)
        pollers = [uuid.uuid4().bytes for _ in range(5)]  # 5 polls a round: each agent moves on by two
        ws_uids = [uuid.uuid4().bytes for _ in range(6)]
        keys = {u: str(uuid.UUID(bytes=u)) for u in pollers + ws_uids}
        http_caps = CAPS | 0x800  # and reports health
        seq = {u: 0 for u in pollers}
        landed = {u: [] for u in pollers}

        def poll(uid, full=False, applied=None, header=None):
            """One poll on a new connection through the balancer, naming the agent in the
            OpAMP-Instance-UID header too (or naming `header`): the reply; notes where it landed."""
            seq[uid] += 1
            m = poll_message(uid, seq[uid], http_caps, "mixed", full, applied)
            m.health.healthy = True
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            try:
                conn.connect()
                port = conn.sock.getsockname()[1]
                conn.request("POST", "/v1/opamp", m.SerializeToString(),
                             {"Content-Type": "application/x-protobuf", "OpAMP-Instance-UID": header or keys[uid]})
                response = conn.getresponse()
                status, data = response.status, response.read()
            finally:
                conn.close()
            assert status == 200, data
            reply = S()
            reply.ParseFromString(data)
            assert not reply.HasField("error_response"), reply
            assert reply.instance_uid == uid
            if seq[uid] > 1:
                assert not reply.flags & 0x1, f"poll {seq[uid]} of {keys[uid]} was asked for a full report"
            landed[uid].append(proxy.landed(port))
            return reply

        def listed(server):
            status, page = api(server, "GET", "/api/v1/agents?connected=true&limit=1000")
            assert status == 200, page
            return page

        def holders_follow_the_last_polls():
            """Every instance lists the eleven agents once, connected, each poller held by the
            instance its last poll reached."""
            for s in servers:
                page = listed(s)
                uids = [item["instanceUid"] for item in page["items"]]
                if page["total"] != len(keys) or sorted(uids) != sorted(keys.values()):
                    return False
                held = {item["instanceUid"]: item["instance"] for item in page["items"]}
                if any(held[keys[u]] != landed[u][-1].instance_id for u in pollers):
                    return False
            return True

        def round_of_polls(who, **kwargs):
            """A poll by each of `who`, then until every instance follows where each landed: the
            next poll, wherever it lands, comes after that (pollers wait seconds between polls)."""
            replies = {u: poll(u, **kwargs) for u in who}
            wait_for(holders_follow_the_last_polls, timeout=15, what="each poller's row following its last poll")
            return replies

        # The WebSocket agents, spread by the balancer.
        async def connect_all():
            for u in ws_uids:
                ws = await websockets.connect(proxy.url, max_size=None, open_timeout=5)
                reply = await exchange(ws, full_message(u, 1, name="mixed"))
                assert reply.instance_uid == u
                sockets.append(ws)
        loop.run_until_complete(asyncio.wait_for(connect_all(), 20))
        # First polls carry the full state; then rounds of heartbeat polls, each landing elsewhere.
        round_of_polls(pollers, full=True)
        for _ in range(3):
            round_of_polls(pollers)
            for u in pollers:
                assert sql(database, f"SELECT owner, connected FROM agents WHERE uid = '{keys[u]}'")[0] \
                    == (landed[u][-1].instance_id, "1")
        # The polls did spread: each poller reached every instance, and the WebSocket agents too
        # are held by all three.
        for u in pollers:
            assert {s.instance_id for s in landed[u]} == {"i0", "i1", "i2"}, [s.instance_id for s in landed[u]]
        ws_holders = {item["instance"] for item in listed(servers[0])["items"] if item["instanceUid"]
                      in {keys[u] for u in ws_uids}}
        assert ws_holders == {"i0", "i1", "i2"}, ws_holders
        for s in servers:
            _, facets = api(s, "GET", "/api/v1/agents/facets")
            assert facets["connected"] == facets["total"] == len(keys), facets
        # The counts come from each instance's last heartbeat (five per lease): a poller that
        # just moved may be counted by neither for a moment.
        wait_for(lambda: sum(instances_view(servers[0])[s.instance_id]["agents"] for s in servers)
                 in (len(ws_uids), len(keys)), timeout=10, what="the instances' heartbeats to count the agents")

        # A config assigned through i1 reaches both kinds of agent.
        status, config = api(servers[1], "PUT", "/api/v1/configs/mixed", COLLECTOR_CONFIG,
                             {"Content-Type": "text/yaml"})
        assert status == 200, config
        status, assignment = api(servers[1], "POST", "/api/v1/assignments",
                                 {"config": "mixed", "selector": {"service.name": "mixed"}})
        assert status in (200, 201), assignment

        async def ws_apply():
            for u, ws in zip(ws_uids, sockets):
                raw = await asyncio.wait_for(ws.recv(), 15)
                push = S()
                push.ParseFromString(raw[1:])
                assert push.instance_uid == u
                assert push.remote_config.config_hash.hex() == config["hash"]
                assert push.remote_config.config.config_map[""].body == COLLECTOR_CONFIG
                m = A(instance_uid=u, sequence_num=2, capabilities=CAPS)
                m.remote_config_status.last_remote_config_hash = push.remote_config.config_hash
                m.remote_config_status.status = opamp_pb2.RemoteConfigStatuses_APPLIED
                reply = await exchange(ws, b"\x00" + m.SerializeToString())
                assert not reply.flags & 0x1 and not reply.HasField("remote_config"), reply
        loop.run_until_complete(asyncio.wait_for(ws_apply(), 30))
        # Each poller gets it in a poll's reply (wherever that poll lands, once that instance has
        # taken the assignment), and reports it applied in its next poll, on another instance.
        offered, deadline = {}, time.time() + 15
        while len(offered) < len(pollers):
            assert time.time() < deadline, f"the config offered to {len(offered)} of the pollers only"
            replies = round_of_polls([u for u in pollers if u not in offered])
            offered.update((u, r) for u, r in replies.items() if r.HasField("remote_config"))
        for reply in offered.values():
            assert reply.remote_config.config_hash.hex() == config["hash"]
            assert reply.remote_config.config.config_map[""].body == COLLECTOR_CONFIG
        round_of_polls(pollers, applied=config["hash"])

        def all_applied(server):
            items = listed(server)["items"]
            return len(items) == len(keys) and all(
                item["desiredConfigHash"] == config["hash"] and item["configState"] == "APPLIED"
                and item["remoteConfigStatus"] == {"hash": config["hash"], "status": "APPLIED", "error": ""}
                for item in items)
        for s in servers:
            wait_for(lambda: all_applied(s), timeout=15, what=f"every agent shown APPLIED on {s.instance_id}")
        status, progress = api(servers[2], "GET", f"/api/v1/assignments/{assignment['id']}")
        assert (progress["targets"], progress["applied"], progress["pending"]) == (len(keys), len(keys), 0), progress
        # The body's uid wins over the header (it only stands in for an empty one): polls whose
        # header names a WebSocket agent count for the pollers, the WebSocket agent is untouched.
        ws_rows = {keys[u]: sql(database, f"SELECT owner, last_seen FROM agents WHERE uid = '{keys[u]}'")[0]
                   for u in ws_uids}
        round_of_polls(pollers, header=keys[ws_uids[0]])
        for s in servers:
            wait_for(lambda: all_applied(s), timeout=15, what=f"every agent still APPLIED on {s.instance_id}")
        assert {k: sql(database, f"SELECT owner, last_seen FROM agents WHERE uid = '{k}'")[0] for k in ws_rows} \
            == ws_rows
        assert time.time() - started < 60
    finally:
        for ws in sockets:
            loop.run_until_complete(ws.close())
        loop.close()
        if proxy:
            proxy.stop()
        for s in servers:
            assert s.stop() == 0


def test_the_leaders_death_mid_rollout_hands_it_to_another_and_each_agent_gets_the_version_once(tmp_path):
    """c leads and holds no agent; a and b hold ten each. A rollout started on a (two stages,
    a soak between) is moved on by c; c is killed during the soak, and the next leader finishes
    it from what c stored: every agent got the new version exactly once."""
    needs_postgres()
    from test_rollouts import BASE, Fleet, publish, rollout, variant
    database = fresh_database("postgres", tmp_path)
    c = instance(database, "c", "--config-apply-timeout", "30")
    wait_for(lambda: instances_view(c)["c"]["leader"], timeout=15, what="c to lead")
    a = instance(database, "a", "--config-apply-timeout", "30")
    b = instance(database, "b", "--config-apply-timeout", "30")
    fleets = []
    try:
        fleets = [Fleet(a, ["prod"] * 10), Fleet(b, ["prod"] * 10)]
        agents = [agent for fleet in fleets for agent in fleet.agents]
        for s in (a, b):
            wait_written(s)
        wait_for(lambda: api(c, "GET", "/api/v1/agents?connected=true&limit=1")[1]["total"] == 20,
                 what="c to follow the twenty agents")
        publish(a, "gw", BASE)
        new = publish(a, "gw", variant("v2"))
        status, created = api(a, "POST", "/api/v1/rollouts", {
            "config": "gw", "version": new["version"], "target": {"selector": {"env": "prod"}},
            "stages": [{"percent": 50}], "soakSeconds": 6})
        assert status == 201, created
        rid = created["id"]
        # Stage 0 applies on both instances' agents; c, the leader, sees it done and soaks.
        wait_for(lambda: sum(1 for x in agents if b"v2" in x.applied or x.received) == 10 or None, timeout=20,
                 what="the first stage's agents to get the version")
        wait_for(lambda: rollout(a, rid)["counts"]["applied"] == 10, timeout=20, what="the first stage applied")
        assert rollout(a, rid)["stage"] == created["stage"], "the soak holds the second stage back"
        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait()
        done = wait_for(lambda: (lambda r: r if r["state"] == "completed" else None)(rollout(a, rid)), timeout=40,
                        what="the rollout to complete under the next leader")
        assert done["counts"]["applied"] == 20
        got = [sum(1 for body in x.received if b"v2" in body) for x in agents]
        assert got == [1] * 20, f"each agent got the version once: {got}"
        view = instances_view(a)
        assert [k for k, i in view.items() if i["leader"]] in (["a"], ["b"])
        assert rollout(b, rid)["state"] == "completed", "b follows what the leader stored"
    finally:
        for fleet in fleets:
            fleet.close()
        for s in (a, b, c):
            if s.proc.poll() is None:
                assert s.stop() == 0


def test_thirty_thousand_agents_over_three_instances_survive_a_kill_9(tmp_path):
    """30 000 WebSocket agents (the C load generator) through HAProxy to three instances, a
    config assigned to all of them, then one instance is killed: every one of its agents is
    connected to the others within 30 s, the database shows none held by the dead one, every
    agent is listed once and held once, still wants the pushed config and has it applied, and
    the history the dead one wrote for its agents is all there (Benchmarks/scripts/cluster_failover.py)."""
    needs_postgres()
    root = Path(__file__).resolve().parents[2]
    subprocess.run(["make", "-s", "-C", str(root / "Benchmarks/loadgen")], check=True, timeout=120)
    out = tmp_path / "failover.json"
    proc = subprocess.run(
        [sys.executable, str(root / "Benchmarks/scripts/cluster_failover.py"),
         "--database", os.environ.get("AMPORA_TEST_POSTGRES_URL") or pytest.fail("AMPORA_TEST_POSTGRES_URL"),
         "--agents", "30000", "--instances", "3", "--ampora-bin", str(bin_dir() / "ampora"), "--deadline", "30",
         "--push", "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=400)
    assert out.exists(), proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["ok"], result
    assert result["victim_agents"] > 5000, "the victim held its share"
    assert result["push_s"] is not None, "every agent applied the pushed config before the kill"
    assert result["reconnect_s_from_kill"] < 30
    assert sum(result["owners_after"].values()) == 30000 and "i0" not in result["owners_after"]
    state = result["state_after"]
    assert "error" not in state, state
    # Listed once and held once: each survivor lists all 30 000, connected, none twice, both
    # name the same holder for each, and the live instances' connections hold 30 000 in all.
    assert state["listed"] == {"i1": 30000, "i2": 30000}, state
    assert state["listed_connected"] == {"i1": 30000, "i2": 30000}, state
    assert state["uids_listed_twice"] == 0 and state["survivors_disagree_on_holder"] == 0, state
    assert state["held_by_victim"] == 0, state
    assert set(state["held_by_instances"]) == {"i1", "i2"}, state
    assert sum(state["held_by_instances"].values()) == 30000, state
    assert state["database_rows"] == state["database_uids"] == 30000, state
    # The pushed config: still desired by every agent and applied by every one, the dead
    # instance's former agents included.
    assert state["desired_pushed"] == 30000 and state["applied_pushed"] == 30000, state
    assert state["config_states"] == {"APPLIED": 30000}, state
    # The history of the dead instance's agents: every row it had written is kept, each shows
    # the config applied (written by the dead one) and a second connection (to a survivor).
    history = state["history"]
    assert history["victim_rows_before_kill"] >= 3 * result["victim_agents"], history
    assert history["victim_rows_kept"] == history["victim_rows_before_kill"], history
    assert history["victim_agents_applied_in_history"] == result["victim_agents"], history
    assert history["victim_agents_reconnected_in_history"] == result["victim_agents"], history
    assert proc.returncode == 0


def test_a_postgres_restart_under_two_instances_loses_no_acknowledged_write(tmp_path):
    """PostgreSQL stops and starts again under two instances holding agents: both recover on
    their own (heartbeats, one leader, following each other again), what agents said meanwhile
    is written, and every operator write that was acknowledged is there and seen by both."""
    needs_postgres()
    from test_fleet import COLLECTOR_CONFIG
    root = Path(__file__).resolve().parents[2]
    pgdir = tempfile.mkdtemp(prefix="ampora-restart-")
    port = free_port()
    url = subprocess.run([str(root / "scripts/pg.sh"), "start", pgdir, str(port)], check=True,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    a = b = None
    try:
        a, b = instance(url, "a"), instance(url, "b")
        uids = [uuid.uuid4().bytes for _ in range(10)]

        async def go():
            sockets = [await connect_through((a if i % 2 else b).ws_url, u) for i, u in enumerate(uids)]
            for s in (a, b):
                wait_written(s)
            acknowledged = []
            status, _ = api(a, "PUT", "/api/v1/configs/before", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})
            assert status == 200
            acknowledged.append("before")
            subprocess.run([str(root / "scripts/pg.sh"), "halt", pgdir], check=True, timeout=60)
            # Agents go on talking; operators get a clear refusal, never a false success.
            for u, ws in zip(uids, sockets):
                m = A(instance_uid=u, sequence_num=2, capabilities=0x1 | 0x800)
                m.health.healthy = False
                m.health.last_error = "during the restart"
                await exchange(ws, b"\x00" + m.SerializeToString())
            status, _ = api(b, "PUT", "/api/v1/configs/during", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})
            if status == 200:
                acknowledged.append("during")
            else:
                assert status == 503
            time.sleep(2)
            subprocess.run([str(root / "scripts/pg.sh"), "resume", pgdir, str(port)], check=True, timeout=60)
            for s in (a, b):
                wait_for(lambda: metrics(s)["ampora_persistence_healthy"] == 1, timeout=30, what="writes back")
                wait_written(s)
            status, _ = api(b, "PUT", "/api/v1/configs/after", COLLECTOR_CONFIG, {"Content-Type": "text/yaml"})
            assert status == 200
            acknowledged.append("after")

            def recovered():
                views = [instances_view(s) for s in (a, b)]
                return all(all(i["alive"] for i in v.values()) and sum(i["leader"] for i in v.values()) == 1
                           for v in views)
            wait_for(recovered, timeout=20, what="both instances beating, one leader")
            # Both follow each other again: a new agent on a is listed on b.
            late = uuid.uuid4().bytes
            sockets.append(await connect_through(a.ws_url, late))
            wait_for(lambda: api(b, "GET", f"/api/v1/agents/{uuid.UUID(bytes=late)}")[0] == 200, timeout=15,
                     what="b to follow a again")
            for name in acknowledged:
                for s in (a, b):
                    wait_for(lambda: api(s, "GET", f"/api/v1/configs/{name}")[0] == 200, timeout=15,
                             what=f"config {name} on every instance")
            unhealthy = sql(url, "SELECT COUNT(*) FROM agents WHERE health IS NOT NULL")[0][0]
            assert int(unhealthy) == 10, "what the agents said during the restart is written"
            for s in (a, b):
                _, facets = api(s, "GET", "/api/v1/agents/facets")
                assert facets["unhealthy"] == 10, facets
            for ws in sockets:
                await ws.close()
        run(go(), timeout=180)
    finally:
        for s in (a, b):
            if s is not None:
                assert s.stop() == 0
        subprocess.run([str(root / "scripts/pg.sh"), "stop", pgdir], timeout=60)


def test_a_notification_storm_leaves_an_instance_serving(tmp_path):
    """100 000 announcements and 100 000 action notifications (most pointing at nothing) hit b
    at once: b keeps beating and serving, and a real command sent through a afterwards still
    reaches b's agent."""
    database, a, b, uid, key = pair(tmp_path)
    try:
        async def go():
            ws = await websockets.connect(b.ws_url)
            m = A(instance_uid=uid, sequence_num=1, capabilities=0x1 | 0x400)
            m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "storm"
            await exchange(ws, b"\x00" + m.SerializeToString())
            wait_written(b)
            wait_for(lambda: api(a, "GET", f"/api/v1/agents/{key}")[0] == 200, what="a to follow b's agent")
            started = time.time()
            sql(database, "SELECT pg_notify('ampora_agents', 'x:' || g || ':' || g), "
                          "pg_notify('ampora_actions', 'b:' || (g + 1000000)) FROM generate_series(1, 100000) g")
            status, body = api(a, "POST", f"/api/v1/agents/{key}/restart")
            assert status in (200, 202), body
            raw = await asyncio.wait_for(ws.recv(), 60)
            reply = __import__("test_gateway").S()
            reply.ParseFromString(raw[1:])
            assert reply.HasField("command"), reply
            took = time.time() - started
            assert took < 30, f"the command waited {took:.1f} s behind the storm"
            view = instances_view(b)
            assert view["b"]["alive"] and view["a"]["alive"]
            assert b.proc.poll() is None
            await ws.close()
        run(go(), timeout=120)
    finally:
        for s in (a, b):
            assert s.stop() == 0


def test_certificates_issued_on_one_instance_are_renewed_by_the_leader_and_offered_by_the_holder(tmp_path):
    """The Ampora CA on two instances: an agent held by b asks b for a certificate; a, the
    leader, renews it (once: the other instance renews nothing), and b, which holds the agent,
    offers the renewed certificate over the open connection."""
    needs_postgres()
    from test_ca import PASSPHRASE, ampora, check_issued, csr_for, csr_message, new_key, server_context
    from test_gateway import S
    from test_tls import fixture
    database = fresh_database("postgres", tmp_path)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    out = ampora("ca", "init", "--database", database, "--ca-key-passphrase-file", str(tmp_path / "passphrase"))
    assert out.returncode == 0, out.stderr
    from cryptography import x509
    ca = x509.load_pem_x509_certificate(out.stdout.encode())
    tls = ("--tls-cert", fixture("server.pem"), "--tls-key", fixture("server.key"),
           "--ca-key-passphrase-file", str(tmp_path / "passphrase"), "--agent-cert-lifetime", "15s")
    a = instance(database, "a", *tls)
    b = None
    try:
        wait_for(lambda: instances_view(a)["a"]["leader"], timeout=15, what="a to lead")
        b = instance(database, "b", *tls)
        uid = uuid.uuid4()
        key = new_key()

        async def go():
            url = f"wss://127.0.0.1:{b.opamp_port}/v1/opamp"
            async with websockets.connect(url, ssl=server_context(), max_size=None) as ws:
                first = check_issued(await exchange(ws, csr_message(uid.bytes, 0, csr_for(key, str(uid)))), ca,
                                     str(uid))
                # The leader renews at two thirds of 15 s (it looks every 10 s); b pushes it.
                raw = await asyncio.wait_for(ws.recv(), timeout=30)
                pushed = S()
                pushed.ParseFromString(raw[1:])
                renewed = check_issued(pushed, ca, str(uid))
                assert renewed.serial_number != first.serial_number
                assert renewed.public_key() == key.public_key()
                return renewed

        renewed = asyncio.run(asyncio.wait_for(go(), timeout=45))
        rows = sql(database, f"SELECT serial FROM agent_certificates WHERE uid = '{uid}' ORDER BY not_before")
        assert len(rows) == 2, f"issued once and renewed once, by the leader alone: {rows}"
        assert int(rows[-1][0], 16) == renewed.serial_number
    finally:
        for s in (a, b):
            if s is not None:
                assert s.stop() == 0


def test_the_event_stream_of_one_instance_tells_of_agents_another_holds(tmp_path):
    """A subscriber on b sees the agent a holds connect, change health and disconnect."""
    from test_events import Stream
    from test_fleet import CAPS
    database, a, b, uid, key = pair(tmp_path)
    stream = None
    try:
        stream = Stream(b, f"?agent={key}")
        assert stream.response.status == 200

        async def go():
            async with websockets.connect(a.ws_url) as ws:
                assert (await exchange(ws, full_message(uid, 1))).instance_uid == uid
                sick = A(instance_uid=uid, sequence_num=2, capabilities=CAPS | 0x800)
                sick.health.healthy = False
                sick.health.last_error = "exporter down"
                await exchange(ws, b"\x00" + sick.SerializeToString())
                wait = time.monotonic() + 15
                while "agent.health" not in stream.kinds() and time.monotonic() < wait:
                    await asyncio.sleep(0.1)

        run(go())
        wait_for(lambda: "agent.disconnected" in stream.kinds(), timeout=15, what="b to tell of the disconnection")
        kinds = stream.kinds()
        assert kinds.index("agent.connected") < kinds.index("agent.health") < kinds.index("agent.disconnected"), kinds
        assert {d["agent"] for _, _, d in stream.events} == {key}
    finally:
        if stream is not None:
            stream.close()
        for s in (a, b):
            assert s.stop() == 0
