import Core
import Foundation
import Testing

@testable import Fleet

/// Several instances on one PostgreSQL: the standing machine (pure), the ownership fence at the
/// SQL level, and the leadership lock between two real sessions.
@Suite struct ClusterTests {
    // MARK: The machine

    @Test func leadsOnceTheLockIsHeldAndStepsDownWhenItIsNot() {
        var m = ClusterMachine(leaseMilliseconds: 10_000, graceMilliseconds: 30_000, now: 0)
        #expect(m.contact(now: 100, holdsLock: false, newToken: nil, ownRow: true).isEmpty)
        #expect(m.needsToken(holdsLock: true))
        #expect(m.contact(now: 200, holdsLock: true, newToken: 7, ownRow: true) == [.lead(token: 7)])
        #expect(!m.needsToken(holdsLock: true), "a running tenure draws no second token")
        #expect(m.contact(now: 300, holdsLock: true, newToken: nil, ownRow: true).isEmpty)
        #expect(m.contact(now: 400, holdsLock: false, newToken: nil, ownRow: true) == [.stepDown])
        #expect(m.token == nil)
    }

    @Test func aFailedHeartbeatStepsDownAtOnceAndReleasesAgentsAfterTheGrace() {
        var m = ClusterMachine(leaseMilliseconds: 10_000, graceMilliseconds: 30_000, now: 0)
        _ = m.contact(now: 1000, holdsLock: true, newToken: 1, ownRow: true)
        #expect(m.silence(now: 2000) == [.stepDown], "the lost session freed the lock: never lead on a guess")
        #expect(m.silence(now: 30_000).isEmpty, "within the grace the agents stay")
        #expect(m.silence(now: 31_001) == [.release])
        #expect(m.silence(now: 60_000).isEmpty, "released once")
        var alone = ClusterMachine(leaseMilliseconds: 10_000, graceMilliseconds: 30_000, now: 0)
        _ = alone.contact(now: 1000, holdsLock: true, newToken: 1, ownRow: true, peers: false)
        #expect(alone.silence(now: 100_000) == [.stepDown], "alone, the agents stay: no other could record them")
        #expect(
            m.contact(now: 61_000, holdsLock: false, newToken: nil, ownRow: true) == [.admit, .reassert],
            "back after a minute: a leader may have shown the agents still held here disconnected")
        #expect(m.contact(now: 62_000, holdsLock: true, newToken: 2, ownRow: true) == [.lead(token: 2)])
    }

    /// A heartbeat that took long to reach the database (a busy PostgreSQL, a starved thread):
    /// meanwhile a leader saw this instance silent and may have shown its agents disconnected,
    /// so their rows are written again. A heartbeat on time changes nothing.
    @Test func aHeartbeatLateByTwoLeasesReassertsTheAgentsHeld() {
        var m = ClusterMachine(leaseMilliseconds: 2000, graceMilliseconds: 30_000, now: 0)
        #expect(m.contact(now: 400, holdsLock: false, newToken: nil, ownRow: true, committed: 450).isEmpty)
        #expect(
            m.contact(now: 800, holdsLock: false, newToken: nil, ownRow: true, committed: 3000).isEmpty,
            "2.6 s since the last one was written: within two leases less the margin")
        #expect(
            m.contact(now: 3400, holdsLock: false, newToken: nil, ownRow: true, committed: 7000) == [.reassert],
            "the database showed the heartbeat of 0.8 s until 7 s")
        #expect(
            m.contact(now: 7000, holdsLock: false, newToken: nil, ownRow: true, committed: 7010) == [.reassert],
            "the late one wrote 3.4 s: the database showed it until 7 s, too")
        #expect(m.contact(now: 7400, holdsLock: false, newToken: nil, ownRow: true, committed: 7450).isEmpty)
    }

    @Test func anotherProcessUnderTheSameIdWindsThisOneDown() {
        var m = ClusterMachine(leaseMilliseconds: 10_000, graceMilliseconds: 30_000, now: 0)
        _ = m.contact(now: 1000, holdsLock: true, newToken: 3, ownRow: true)
        #expect(m.contact(now: 2000, holdsLock: true, newToken: nil, ownRow: false) == [.stepDown, .release])
        #expect(!m.needsToken(holdsLock: true))
        #expect(m.contact(now: 3000, holdsLock: true, newToken: nil, ownRow: true).isEmpty, "for good")
    }

    // MARK: Announcements

    @Test func announcementsAreParsedAndABurstIsReadInFewSpans() {
        #expect(PeerFeed.range("a:10:20", ignoring: "b") == 10...20)
        #expect(PeerFeed.range("host:8080:10:20", ignoring: "b") == 10...20, "an id may hold a colon")
        #expect(PeerFeed.range("b:10:20", ignoring: "b") == nil, "this instance's own")
        #expect(PeerFeed.range("a:20:10", ignoring: "b") == nil)
        #expect(PeerFeed.range("garbage", ignoring: "b") == nil)
        #expect(PeerFeed.action("b:42", for: "b") == 42)
        #expect(PeerFeed.action("*:43", for: "b") == 43)
        #expect(PeerFeed.action("c:44", for: "b") == nil)
        #expect(PeerFeed.action("b:x", for: "b") == nil)
        let storm = (1...100_000).map { Int64($0)...Int64($0) }.shuffled()
        let spans = PeerFeed.spans(storm)
        #expect(spans.count == 2, "100 000 one-row batches: two queries")
        #expect(spans.first?.lowerBound == 1 && spans.last?.upperBound == 100_000)
        #expect(PeerFeed.spans([1...5, 500_000...500_010, 3...9]) == [1...9, 500_000...500_010])
    }

    // MARK: The fence, in PostgreSQL

    static func claim(_ owner: String, epoch: Int64, at claimedAt: Int64, connected: Bool = true) -> AgentRow {
        var row = StoreConformanceTests.row(1, connected: connected, owner: owner)
        row.fence = epoch
        row.claimedAt = claimedAt
        row.lastSeen = claimedAt
        return row
    }

    static func write(_ store: any FleetStore, _ row: AgentRow) throws -> Int {
        var batch = WriteBatch()
        batch.agents = [row]
        return try store.write(batch)
    }

    // MARK: A peer's row

    @Test func adoptingAPeersRowDecodesWhatChangedAndKeepsTheRest() {
        func description(_ name: String) -> [UInt8] {
            var kv = KeyValue()
            kv.key = "service.name"
            var v = AnyValue()
            v.value = .stringValue(name)
            kv.value = v
            var d = AgentDescription()
            d.identifyingAttributes = [kv]
            return d.serializedBytes()
        }
        func remote(_ status: RemoteConfigStatuses, _ hash: UInt8) -> [UInt8] {
            var r = RemoteConfigStatus()
            r.status = status
            r.lastRemoteConfigHash = [hash]
            return r.serializedBytes()
        }
        var row = AgentRow(uid: "00000000-0000-0000-0000-000000000001")
        row.description = description("a")
        row.remoteConfigStatus = remote(.applying, 1)
        var state = AgentState(row: row)
        #expect(state.attributes.map(\.value) == ["a"] && state.remoteStatus == .applying && state.healthy == nil)

        var next = row  // the peer's status reply: the same description, a new status, health
        next.remoteConfigStatus = remote(.applied, 1)
        var health = ComponentHealth()
        health.healthy = true
        next.health = health.serializedBytes()
        state.adopt(next, now: 10)
        #expect(state.attributes.map(\.value) == ["a"])
        #expect(state.remoteStatus == .applied && state.remoteHash == "01" && state.healthy == true)
        #expect(state.row == next)

        next.description = description("b")
        next.remoteConfigStatus = nil
        next.health = nil
        state.adopt(next, now: 20)
        #expect(state.attributes.map(\.value) == ["b"])
        #expect(state.remoteStatus == .unset && state.remoteHash == "" && state.healthy == nil)
    }

    @Test func aPeersRowTellsOfWhatChangedAsEvents() {
        var row = AgentRow(uid: "00000000-0000-0000-0000-000000000002")
        row.connected = true
        row.owner = "a"
        row.lastSeen = 5
        let first = AgentState(row: row)
        #expect(Inventory.events(from: nil, to: first).map(\.kind) == ["connected"])
        var next = first
        var health = ComponentHealth()
        health.healthy = false
        next.row.health = health.serializedBytes()
        next.healthy = false
        next.row.effectiveConfigHash = "ab"
        #expect(Inventory.events(from: first, to: next).map(\.kind) == ["health_changed", "effective_config_changed"])
        #expect(Inventory.events(from: next, to: next).isEmpty, "a row that changed nothing tells of nothing")
        var gone = next
        gone.row.connected = false
        #expect(Inventory.events(from: next, to: gone).map(\.kind) == ["disconnected"])
    }

    static var postgres: [String] { TestDatabases.backends.filter { $0 == "postgres" } }

    @Test(arguments: postgres)
    func theOldOwnersLateWritesAreRefusedAndANewerConnectionTakesTheRow(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        #expect(try Self.write(store, Self.claim("a", epoch: 1, at: 100)) == 0)
        #expect(try Self.write(store, Self.claim("b", epoch: 2, at: 200)) == 0, "the agent reconnected to b")
        #expect(
            try Self.write(store, Self.claim("a", epoch: 1, at: 100, connected: false)) == 1,
            "a's late 'disconnected' is refused")
        var row = try #require(try store.loadAgents().first)
        #expect(row.owner == "b" && row.connected && row.claimedAt == 200)
        #expect(try Self.write(store, Self.claim("b", epoch: 2, at: 200)) == 0, "b's own writes go on")
        #expect(try Self.write(store, Self.claim("b", epoch: 9, at: 200)) == 1, "a restarted b with an old claim")
        #expect(try Self.write(store, Self.claim("a", epoch: 1, at: 300)) == 0, "back on a, newer")
        row = try #require(try store.loadAgents().first)
        #expect(row.owner == "a" && row.claimedAt == 300)
    }

    /// Two instances racing for one agent, their writes arriving in any order: the row always
    /// ends with the newest connection's claim, whatever came late.
    @Test(arguments: postgres)
    func racingClaimsEndWithTheNewestConnection(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        var rng = SystemRandomNumberGenerator()
        var base: Int64 = 1000
        for _ in 0..<25 {
            // Each connection writes a claim and later updates; the writes of all are shuffled.
            var writes: [AgentRow] = []
            for _ in 0..<Int.random(in: 2...4, using: &rng) {
                let owner = Bool.random(using: &rng) ? "a" : "b"
                let at = base + Int64.random(in: 0..<1000, using: &rng)
                writes.append(Self.claim(owner, epoch: owner == "a" ? 1 : 2, at: at))
                writes.append(Self.claim(owner, epoch: owner == "a" ? 1 : 2, at: at, connected: false))
            }
            writes.shuffle(using: &rng)
            for row in writes { _ = try Self.write(store, row) }
            let newest = writes.map(\.claimedAt).max()!
            let row = try #require(try store.loadAgents().first)
            #expect(row.claimedAt == newest)
            let winners = Set(writes.filter { $0.claimedAt == newest }.map(\.owner))
            #expect(winners.contains(row.owner))
            base += 2000
        }
    }

    /// One batch of every kind of agent row, through both COPYs: agents never written, one
    /// thought new that is already there (the plain COPY fails and the whole batch is upserted),
    /// updates under the claim that holds the row or a newer one, and writes under an older
    /// claim. The table ends with exactly the admitted rows, each column as written (empty
    /// bytes apart from NULL, text with tabs and backslashes, negative numbers).
    @Test(arguments: postgres)
    func aBatchMixingNewExistingAndFencedOutRowsLeavesExactlyTheAdmittedRows(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        func agent(_ i: Int, _ owner: String, epoch: Int64, at claimedAt: Int64, new: Bool = false) -> AgentRow {
            var row = StoreConformanceTests.row(i, owner: owner)
            row.fence = epoch
            row.claimedAt = claimedAt
            row.isNew = new
            return row
        }
        var first = WriteBatch()
        first.agents =
            (0..<4).map { agent($0, "a", epoch: 1, at: 100, new: true) }
            + (4..<6).map { agent($0, "b", epoch: 2, at: 200, new: true) }
        #expect(try store.write(first) == 0)

        var own = agent(0, "a", epoch: 1, at: 100)  // a's own update, every column changed
        own.connected = false
        own.firstSeen = 1
        own.lastSeen = 9_000
        own.capabilities = -5
        own.description = []
        own.health = [0, 255, 92, 9, 10, 13]
        own.effectiveConfigHash = nil
        own.remoteConfigStatus = [1]
        own.packageStatuses = [2, 3]
        own.componentsHash = "tab\tand\\backslash ünï"
        own.customCapabilities = []
        own.connectionSettingsStatus = [4]
        let newer = agent(1, "b", epoch: 2, at: 150)  // the agent reconnected to b
        var thoughtNew = agent(2, "a", epoch: 1, at: 100, new: true)  // a wrote it already
        thoughtNew.health = [7]
        var late = agent(4, "a", epoch: 1, at: 100)  // b holds it with a newer claim
        late.connected = false
        let lateNew = agent(5, "a", epoch: 1, at: 100, new: true)  // the same, thought new
        let fresh = agent(10, "a", epoch: 1, at: 100, new: true)
        let unseen = agent(11, "a", epoch: 1, at: 100)  // not there, though not marked new
        var mixed = WriteBatch()
        mixed.agents = [own, newer, thoughtNew, late, lateNew, fresh, unseen]
        #expect(try store.write(mixed) == 2, "a's writes on b's agents are refused")

        func stored(_ row: AgentRow) -> AgentRow {
            var row = row
            row.isNew = false
            return row
        }
        let expected = [own, newer, thoughtNew, first.agents[3], first.agents[4], first.agents[5], fresh, unseen]
        #expect(try store.loadAgents() == expected.map(stored).sorted { $0.uid < $1.uid })
    }

    // MARK: Pruning announcements and actions

    @Test func pruneMarksDeleteThroughWhatWasNewestTheKeepAgo() {
        var m = PruneMarks(keepMilliseconds: 1000)
        #expect(m.note(.init(changes: 5, actions: 1), at: 0) == nil)
        #expect(m.note(.init(changes: 9, actions: 2), at: 500) == nil)
        #expect(m.note(.init(changes: 12, actions: 2), at: 1000) == .init(changes: 5, actions: 1))
        #expect(
            m.note(.init(changes: 20, actions: 3), at: 2600) == .init(changes: 12, actions: 2),
            "the newest mark old enough")
        #expect(m.note(.init(changes: 21, actions: 3), at: 2700) == nil)
    }

    @Test(arguments: postgres)
    func announcementsAndActionsArePrunedThroughAMarkAndNoFurther(_ backend: String) throws {
        let store = try FleetStores.open(try TestDatabases.freshURL(backend))
        defer { store.close() }
        func add(_ uid: String) throws {
            try store.execute([
                ("INSERT INTO agent_changes (uid, at) VALUES ($1, 1)", [uid]),
                (
                    "INSERT INTO cluster_actions (sender, target, kind, uids, body, at) VALUES ('a', '*', 'x', $1, '', 1)",
                    [uid]
                ),
            ])
        }
        try add("one")
        try add("two")
        let mark = try store.changeMarks()
        try add("three")
        try store.pruneChanges(through: mark)
        #expect(try store.select("SELECT uid FROM agent_changes", []).map { $0[0] } == ["three"])
        #expect(try store.select("SELECT uids FROM cluster_actions", []).map { $0[0] } == ["three"])
    }

    /// Actions are carried out once each: those after the load's mark on the first catch-up,
    /// a window below the highest handled after a gap (ids commit out of order), none twice.
    @Test func theActionCursorTakesEachActionOnceAndCatchesUpAfterAGap() {
        var cursor = ActionCursor(mark: 5000)
        let first = cursor.catchUpFloor()
        #expect(first == 5000, "the first catch-up starts at the load's mark")
        var taken: [Int64] = []
        for id: Int64 in [5001, 5003, 5001, 3000] where cursor.take(id) { taken.append(id) }
        #expect(taken == [5001, 5003], "each once, none older than the window")
        let afterGap = cursor.catchUpFloor()
        #expect(afterGap == 5003 - ActionCursor.window, "after a gap, a window below")
        taken = []
        for id: Int64 in [5002, 5003, 5004] where cursor.take(id) { taken.append(id) }
        #expect(taken == [5002, 5004], "one committed late is still taken")
        #expect(cursor.mark == 5004)
    }

    /// The store reads the actions an instance missed: for it or for every instance, not its
    /// own, after an id.
    @Test(arguments: postgres)
    func actionsMissedWhileNotListeningAreReadById(_ backend: String) throws {
        let store = try #require(try FleetStores.open(try TestDatabases.freshURL(backend)) as? PostgresStore)
        defer { store.close() }
        #expect(try store.latestActionID() == 0)
        for (sender, target) in [("a", "*"), ("b", "*"), ("a", "b"), ("a", "c")] {
            try store.post(
                ClusterActionRow(sender: sender, target: target, kind: "catalogue", uids: [], body: ""), now: 1)
        }
        let newest = try store.latestActionID()
        let missed = try store.actions(after: 0, for: "b")
        #expect(missed.map(\.target) == ["*", "b"], "for b or everyone, not b's own, not c's")
        #expect(missed.allSatisfy { $0.sender == "a" && $0.id > 0 && $0.id <= newest })
        #expect(try store.actions(after: missed[0].id, for: "b").map(\.id) == [missed[1].id])
        #expect(try store.actions(ids: [missed[1].id]).first == missed[1])
    }

    // MARK: Leadership between two sessions

    @Test(arguments: postgres)
    func oneSessionLeadsAndAnotherTakesOverWhenItEnds(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        let store = try FleetStores.open(url)
        defer { store.close() }
        var options = FleetOptions(instance: "a")
        options.leaderLeaseMilliseconds = 2000
        let sessionA = try PostgresStore.clusterSession(url: url, leaseMilliseconds: 2000)
        let sessionB = try PostgresStore.clusterSession(url: url, leaseMilliseconds: 2000)
        defer { sessionB.close() }
        for (id, epoch) in [("a", Int64(1)), ("b", 2)] {
            try store.registerInstance(
                InstanceRow(id: id, address: "", epoch: epoch, startedAt: 0, lastHeartbeat: 0, agents: 0))
        }
        let a = ClusterThread(session: sessionA, instance: "a", epoch: 1, options: options, connectedAgents: { 3 })
        options.instance = "b"
        let b = ClusterThread(session: sessionB, instance: "b", epoch: 2, options: options, connectedAgents: { 4 })
        let first = a.beat()
        #expect(first.count == 1)
        guard case .lead(let token)? = first.first else {
            Issue.record("a did not lead: \(first)")
            return
        }
        #expect(b.beat().isEmpty, "the lock is taken")
        #expect(try store.leader().instance == "a")
        #expect(try store.instances().map(\.agents) == [3, 4])
        sessionA.close()  // the session ends: PostgreSQL frees the lock at once
        var taken: [ClusterMachine.Effect] = []
        for _ in 0..<50 where taken.isEmpty {
            taken = b.beat()
            if taken.isEmpty { usleep(100_000) }
        }
        #expect(taken == [.lead(token: token + 1)])
        #expect(try store.leader().instance == "b")
        // The lease is in the connection string: a session rebuilt after a lost connection keeps it.
        #expect(try sessionB.select("SHOW idle_session_timeout", []).first?[0] == "2s")
        sessionB.close()
        #expect(try sessionB.select("SHOW idle_session_timeout", []).first?[0] == "2s")
        #expect(
            try store.select("SHOW idle_session_timeout", []).first?[0] == "0",
            "the fleet's own sessions never idle out")
    }
}
