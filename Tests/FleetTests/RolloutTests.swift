import Core
import Foundation
import Synchronization
import Testing

@testable import Fleet

/// The per-agent config state machine, alone: every transition with the time passed in.
@Suite struct ConfigStateMachineTests {
    @Test func aConnectedAgentAppliesAndADisconnectedOneWaits() {
        var track = ConfigStateMachine.target("new", running: ("old", .applied), connected: true, now: 10)
        #expect(track.state == .applying && track.previous == "old")
        // Before it takes the offer the agent reports what it ran: nothing changes.
        ConfigStateMachine.report(&track, hash: "old", status: .applied, error: "", now: 11)
        #expect(track.state == .applying)
        ConfigStateMachine.report(&track, hash: "new", status: .applied, error: "", now: 12)
        #expect(track.state == .applied && track.since == 12)
        var waiting = ConfigStateMachine.target("new", running: nil, connected: false, now: 10)
        #expect(waiting.state == .pending && waiting.previous == nil)
        ConfigStateMachine.connected(&waiting, now: 20)
        #expect(waiting.state == .applying && waiting.since == 20)
        ConfigStateMachine.disconnected(&waiting, now: 21)
        #expect(waiting.state == .pending)
        let already = ConfigStateMachine.target("new", running: ("new", .applied), connected: true, now: 10)
        #expect(already.state == .applied)
    }

    @Test func aSupervisorRollbackIsRecognised() {
        var track = ConfigStateMachine.target("new", running: ("old", .applied), connected: true, now: 0)
        ConfigStateMachine.report(&track, hash: "new", status: .failed, error: "bad receiver", now: 1)
        #expect(track.state == .failed && track.message == "bad receiver")
        ConfigStateMachine.report(&track, hash: "old", status: .applied, error: "", now: 2)
        #expect(track.state == .rolledBack && track.message == "bad receiver")
    }

    /// A rollback from before the server started (kept in the agent's row) holds while the agent
    /// still runs another config applied; one that runs the config, or nothing, is tracked anew.
    @Test func aRollbackFromBeforeAStartIsKept() {
        let kept = ConfigStateMachine.target(
            "new", running: ("old", .applied), connected: true, now: 5, rolledBackFrom: "new")
        #expect(kept.state == .rolledBack && kept.previous == "old" && kept.since == 5)
        let other = ConfigStateMachine.target(
            "newer", running: ("old", .applied), connected: true, now: 5, rolledBackFrom: "new")
        #expect(other.state == .applying)
        let runsIt = ConfigStateMachine.target(
            "new", running: ("new", .applied), connected: true, now: 5, rolledBackFrom: "new")
        #expect(runsIt.state == .applied)
        let nothing = ConfigStateMachine.target("new", running: nil, connected: false, now: 5, rolledBackFrom: "new")
        #expect(nothing.state == .pending)
    }

    @Test func stallsAfterTheTimeoutAndRecovers() {
        var track = ConfigStateMachine.target("new", running: nil, connected: true, now: 1000)
        #expect(!ConfigStateMachine.expire(&track, now: 1999, timeout: 1000))
        #expect(ConfigStateMachine.expire(&track, now: 2000, timeout: 1000))
        #expect(track.state == .stalled)
        #expect(!ConfigStateMachine.expire(&track, now: 9000, timeout: 1000), "stalls once")
        ConfigStateMachine.report(&track, hash: "new", status: .applying, error: "", now: 9001)
        #expect(track.state == .stalled, "still no outcome")
        ConfigStateMachine.report(&track, hash: "new", status: .applied, error: "", now: 9002)
        #expect(track.state == .applied)
    }

    @Test func anAppliedAgentThatMovesOrLosesItsConfigDrifts() {
        var track = ConfigStateMachine.target("new", running: ("new", .applied), connected: true, now: 0)
        ConfigStateMachine.report(&track, hash: "other", status: .applied, error: "", now: 1)
        #expect(track.state == .drifted && track.message == "other")
        ConfigStateMachine.report(&track, hash: "new", status: .applied, error: "", now: 2)
        #expect(track.state == .applied)
        ConfigStateMachine.report(&track, hash: "", status: .unset, error: "", now: 3)
        #expect(track.state == .drifted && track.message == "no remote config")
    }
}

/// Splitting targets into stages and the controller's decisions, alone.
@Suite struct RolloutPlanTests {
    static func targets(_ n: Int) -> [(uid: InstanceUID, attributes: [(key: String, value: String)])] {
        (0..<n).map { i in
            (InstanceUID(high: 1, low: UInt64(i)), [(key: "zone", value: i % 10 == 0 ? "canary" : "main")])
        }
    }

    @Test func stagesTakeCanariesPercentagesCountsAndTheRest() {
        let stages = RolloutPlan.split(
            Self.targets(100), stages: [.selector(["zone": "canary"]), .percent(30), .count(5)])
        #expect(stages.map(\.count) == [10, 20, 5, 65])
        #expect(Set(stages.flatMap { $0 }).count == 100, "every target once")
        #expect(stages[0].allSatisfy { $0.low % 10 == 0 })
        let percentages = RolloutPlan.split(
            Self.targets(1000), stages: [.percent(1), .percent(10), .percent(50), .percent(100)])
        #expect(percentages.map(\.count) == [10, 90, 400, 500])
        #expect(RolloutPlan.split(Self.targets(7), stages: []).map(\.count) == [7])
    }

    @Test func gatesPauseStagesEndAndSoak() {
        var counts = StageCounts()
        for _ in 0..<8 { counts.add(.applied, unhealthy: false, 1) }
        counts.add(.applying, unhealthy: false, 1)
        counts.add(.failed, unhealthy: false, 1)
        let gates = RolloutGates(maxFailed: GateLimit(count: 1), maxUnhealthy: GateLimit(percent: 10))
        func step(_ c: StageCounts, doneAt: Int64? = nil, now: Int64 = 0) -> RolloutPlan.Step {
            RolloutPlan.step(
                stage: 0, stageCount: 2, doneAt: doneAt, counts: c, gates: gates, soakMilliseconds: 500, now: now)
        }
        #expect(step(counts) == .none, "one failure is within the gate; one agent still applying")
        var worse = counts
        worse.add(.failed, unhealthy: false, 1)
        if case .pause(let reason) = step(worse) {
            #expect(reason.contains("2 of 11 agents failed"))
        } else {
            Issue.record("two failures trip a gate of 1")
        }
        var done = counts
        done.add(.applying, unhealthy: false, -1)
        done.add(.applied, unhealthy: false, 1)
        #expect(step(done) == .stageDone)
        #expect(step(done, doneAt: 100, now: 599) == .none, "soaking")
        #expect(step(done, doneAt: 100, now: 600) == .advance(1))
        var sick = done
        sick.add(.applied, unhealthy: true, 2)
        if case .pause = step(sick, doneAt: 100, now: 600) {} else { Issue.record("2 of 12 unhealthy is over 10 %") }
        #expect(
            RolloutPlan.step(
                stage: 1, stageCount: 2, doneAt: 0, counts: done, gates: gates, soakMilliseconds: 0, now: 1)
                == .complete)
    }
}

/// Rollouts through the fleet: agents that apply, fail and roll back, a manual clock, a restart.
@Suite struct RolloutServiceTests {
    static func report(_ fleet: FleetService, _ i: Int, _ hash: String, _ status: RemoteConfigStatuses) {
        var c = StatusChanges()
        c.instanceUID = FleetServiceTests.uid(i)
        var r = RemoteConfigStatus()
        r.lastRemoteConfigHash = ConfigHash.bytes(hex: hash)!
        r.status = status
        r.errorMessage = status == .failed ? "invalid config" : ""
        c.remoteConfigStatus = r
        fleet.record(c)
    }

    /// Two instances change one rollout at the same moment: the change stored first stands,
    /// the other instance's action is refused (409) and that instance takes the stored change.
    @Test func aRolloutChangedOnTwoInstancesAtOnceKeepsTheFirstChange() throws {
        let url = try TestDatabases.freshURL("sqlite")
        var options = FleetOptions(instance: "a")
        options.flushIntervalMilliseconds = 20
        let first = try FleetService(store: try FleetStores.open(url), options: options)
        options.instance = "b"
        let second = try FleetService(store: try FleetStores.open(url), options: options)
        let (_, new) = try Self.appliedThenRevised(first, agents: 4) { _ in "prod" }
        let rollout = try first.createRollout(
            config: "base", version: new.version, target: .selector([:]), stages: [.count(2)], soakSeconds: 0,
            gates: RolloutGates())
        second.reloadCatalogue()
        second.reloadRollouts(rollout.id + "|" + rollout.id)
        #expect(second.rollout(rollout.id)?.etag == first.rollout(rollout.id)?.etag)
        // The first pauses; before the second hears of it, an operator aborts there.
        #expect(try first.act(.pause, on: rollout.id, ifMatch: nil).state == .paused)
        let refused = #expect(throws: FleetError.self) { try second.act(.abort, on: rollout.id, ifMatch: nil) }
        #expect(refused?.code == FleetService.changedElsewhere && refused?.kind == .conflict)
        #expect(second.rollout(rollout.id)?.state == .paused, "the second took the first's change")
        #expect(try second.act(.abort, on: rollout.id, ifMatch: nil).state == .aborted, "and the retry goes through")
        first.reloadRollouts(rollout.id + "|")
        #expect(first.rollout(rollout.id)?.state == .aborted)
        #expect(first.stop())
        first.close()
        second.close()
    }

    /// Starts `fleet` with `agents` agents (`env` names each one's environment) that applied a
    /// first version of config `base`, then publishes a second one: (first, second).
    static func appliedThenRevised(_ fleet: FleetService, agents: Int, env: (Int) -> String) throws -> (
        ConfigVersion, ConfigVersion
    ) {
        fleet.start()
        for i in 0..<agents { fleet.record(FleetServiceTests.firstMessage(i, env: env(i))) }
        #expect(fleet.waitUntilWritten(timeout: 10))
        let old = try fleet.putConfig(name: "base", body: TestConfigs.collector())
        _ = try fleet.assign(config: "base", selector: [:])
        for i in 0..<agents { report(fleet, i, old.hash, .applied) }
        #expect(fleet.waitUntilWritten(timeout: 10))
        return (old, try fleet.putConfig(name: "base", body: TestConfigs.collector("logs")))
    }

    @Test func stagesGateRollBackAndSurviveARestart() throws {
        let url = try TestDatabases.freshURL("sqlite")
        // Real time (the writer flushes by it) plus what the test skips ahead.
        let now = Mutex<Int64>(0)
        var options = FleetOptions(instance: "test")
        options.flushIntervalMilliseconds = 20
        options.clock = { WallClock.milliseconds() + now.withLock { $0 } }
        options.configApplyTimeoutMilliseconds = 60_000
        let fleet = try FleetService(store: try FleetStores.open(url), options: options)
        let (old, new) = try Self.appliedThenRevised(fleet, agents: 10) { $0 < 2 ? "canary" : "prod" }

        #expect(throws: FleetError.self) {
            try fleet.createRollout(
                config: "base", version: 9, target: .selector([:]), stages: [], soakSeconds: 0, gates: RolloutGates())
        }
        #expect(throws: FleetError.self) {
            try fleet.createRollout(
                config: "base", version: new.version, target: .selector(["env": "nowhere"]), stages: [],
                soakSeconds: 0, gates: RolloutGates())
        }
        let rollout = try fleet.createRollout(
            config: "base", version: new.version, target: .selector([:]),
            stages: [.selector(["env": "canary"]), .count(3)], soakSeconds: 10,
            gates: RolloutGates(maxFailed: GateLimit(count: 0)))
        #expect(rollout.stages == 3 && rollout.stage == 0 && rollout.state == .running)
        #expect(rollout.stageCounts.map(\.targets) == [2, 3, 5])
        func desired(_ i: Int) -> String? {
            fleet.desiredState(for: FleetServiceTests.uid(i)).remoteConfig.map { ConfigHash.hex($0.hash) }
        }
        #expect((0..<10).map(desired) == [new.hash, new.hash] + Array(repeating: old.hash, count: 8))

        // The canaries apply; the stage ends, soaks 10 s, and the next one starts.
        for i in 0..<2 { Self.report(fleet, i, new.hash, .applied) }
        #expect(fleet.waitUntilWritten(timeout: 10))
        fleet.rolloutTick()
        #expect(fleet.rollout(rollout.id)?.stage == 0, "soaking")
        now.withLock { $0 += 10_000 }
        fleet.rolloutTick()
        #expect(fleet.rollout(rollout.id)?.stage == 1)
        #expect((0..<10).compactMap(desired).filter { $0 == new.hash }.count == 5)

        // One agent of the second stage fails and goes back (the Supervisor's way): pause.
        Self.report(fleet, 2, new.hash, .failed)
        Self.report(fleet, 2, old.hash, .applied)
        #expect(fleet.waitUntilWritten(timeout: 10))
        fleet.rolloutTick()
        let paused = try #require(fleet.rollout(rollout.id))
        #expect(paused.state == .paused)
        #expect(paused.reason?.contains("failed") == true)
        #expect(paused.stageCounts[1][.rolledBack] == 1)
        #expect((5..<10).allSatisfy { desired($0) == old.hash }, "no agent of a later stage got the version")
        #expect(desired(2) == old.hash, "a rolled-back agent is offered what it went back to, not the failing version")
        #expect(desired(3) == new.hash)
        let agents = fleet.agents(
            {
                var q = AgentQuery()
                q.configState = .rolledBack
                return q
            }())
        #expect(agents.items.map(\.instanceUID) == [FleetServiceTests.uid(2).description])

        // A stale ETag is refused; pausing a paused rollout is a conflict.
        #expect(throws: FleetError.self) { try fleet.act(.resume, on: rollout.id, ifMatch: paused.etag - 1) }
        #expect(throws: FleetError.self) { try fleet.act(.pause, on: rollout.id, ifMatch: nil) }
        #expect(fleet.stop())

        // After a restart the rollout is where it was, its agents still pinned.
        let again = try FleetService(store: try FleetStores.open(url), options: options)
        again.start()
        let restored = try #require(again.rollout(rollout.id))
        #expect(restored.state == .paused && restored.stage == 1 && restored.etag == paused.etag)
        func desiredAgain(_ i: Int) -> String? {
            again.desiredState(for: FleetServiceTests.uid(i)).remoteConfig.map { ConfigHash.hex($0.hash) }
        }
        // The agent that went back is not offered the failing version again: its row kept the
        // rollback, so it is still counted as rolled back and offered what it went back to.
        #expect(desiredAgain(2) == old.hash)
        #expect(restored.stageCounts[1][.rolledBack] == 1)
        #expect((0..<10).compactMap(desiredAgain).filter { $0 == new.hash }.count == 4)

        // Resumed, the failure an operator chose to go past is not counted again, here or after
        // another restart (what the gates discount is stored with the rollout).
        #expect(try again.act(.resume, on: rollout.id, ifMatch: nil).state == .running)
        again.rolloutTick()
        #expect(again.rollout(rollout.id)?.state == .running)
        #expect(again.stop())
        let third = try FleetService(store: try FleetStores.open(url), options: options)
        third.start()
        third.rolloutTick()
        #expect(third.rollout(rollout.id)?.state == .running, "not paused again for the same failure")
        func desiredThird(_ i: Int) -> String? {
            third.desiredState(for: FleetServiceTests.uid(i)).remoteConfig.map { ConfigHash.hex($0.hash) }
        }

        // Roll back: every agent it changed goes back to the old config, as a new rollout.
        let back = try third.act(.rollback, on: rollout.id, ifMatch: nil)
        #expect(back.rollbackOf == rollout.id && back.counts.targets == 5)
        #expect((0..<10).allSatisfy { desiredThird($0) == old.hash })
        #expect(third.rollout(rollout.id)?.state == .rolledBack)
        #expect(third.stop())
    }
}

/// The controller writes after letting go of the rollouts: a database that stops answering
/// holds neither a reader of a rollout nor the rollout's next stage.
@Suite struct RolloutWriteTests {
    /// Starts `fleet` with four agents and a rollout of a config to them in two stages of two.
    static func twoStages(_ fleet: FleetService) throws -> (ConfigVersion, Rollout) {
        fleet.start()
        for i in 0..<4 { fleet.record(FleetServiceTests.firstMessage(i, env: "prod")) }
        #expect(fleet.waitUntilWritten(timeout: 10))
        let config = try fleet.putConfig(name: "base", body: TestConfigs.collector())
        let rollout = try fleet.createRollout(
            config: "base", version: config.version, target: .selector([:]), stages: [.count(2)], soakSeconds: 0,
            gates: RolloutGates())
        return (config, rollout)
    }

    @Test func aRolloutIsReadAndMovesOnWhileItsWriteHangs() throws {
        let store = OutageStore(try FleetStores.open(try TestDatabases.freshURL("sqlite")))
        var options = FleetOptions(instance: "test")
        options.flushIntervalMilliseconds = 20
        let fleet = try FleetService(store: store, options: options)
        let (config, rollout) = try Self.twoStages(fleet)
        let first = (0..<4).filter { i in
            fleet.desiredState(for: FleetServiceTests.uid(i)).remoteConfig.map { ConfigHash.hex($0.hash) }
                == config.hash
        }
        #expect(first.count == 2)

        // The database stops answering; the first stage applies, and the controller starts the
        // second one and tries to store that.
        store.hang()
        defer { store.release() }
        for i in first { RolloutServiceTests.report(fleet, i, config.hash, .applied) }
        let deadline = Date().addingTimeInterval(10)
        while store.hungStatements == 0 && Date() < deadline { usleep(10_000) }
        #expect(store.hungStatements > 0, "the controller's write is waiting")

        // Read from another thread, with a bound, so that a reader stuck behind the write fails
        // the test instead of hanging it.
        let read = Mutex<Rollout?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let seen = fleet.rollout(rollout.id)
            read.withLock { $0 = seen }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 10) == .success, "reading the rollout waited for the database")
        #expect(read.withLock { $0 }?.stage == 1, "the second stage started before it was stored")
        store.release()
        #expect(fleet.stop())
    }
}

/// Operators read rollouts from what the book's last change published: a stage start at a
/// million agents holds the book's lock for seconds, and a read must not wait for it.
@Suite struct RolloutReadTests {
    @Test func aRolloutIsReadWhileTheBookIsHeld() throws {
        let fleet = try FleetServiceTests.service(try FleetStores.open(try TestDatabases.freshURL("sqlite")))
        let (_, rollout) = try RolloutWriteTests.twoStages(fleet)
        let read = Mutex<(Rollout?, Int)>((nil, 0))
        let done = DispatchSemaphore(value: 0)
        let answered = fleet.rollouts.change { _ in
            // Read from another thread while this one holds the book, with a bound, so that a
            // reader waiting for the lock fails the test instead of hanging it.
            Thread {
                let seen = (fleet.rollout(rollout.id), fleet.listRollouts().count)
                read.withLock { $0 = seen }
                done.signal()
            }.start()
            return done.wait(timeout: .now() + 10) == .success
        }
        #expect(answered, "reading a rollout waited for the book's lock")
        let (seen, listed) = read.withLock { $0 }
        #expect(seen?.etag == rollout.etag && seen?.counts.targets == 4 && listed == 1)
        #expect(fleet.stop())
    }

    /// The stall check looks at deadlines by tenths of a second: an agent stalls no earlier
    /// than its timeout and less than a tenth of a second after it (then, once).
    @Test func anAgentStallsWithinATenthOfASecondOfItsTimeout() throws {
        let fleet = try AgentResourceTests.fleet(now: Box<Int64>(0))
        fleet.inventory.setApplyTimeout(5_000)
        let uid = FleetServiceTests.uid(1)
        fleet.inventory.state.withLock { s in
            var state = AgentState(row: AgentRow(uid: uid.description))
            state.track = ConfigTrack(target: "h", previous: nil, state: .applying, since: 1_234)
            s.replace(uid, nil, with: state)
        }
        #expect(fleet.inventory.expireStalled(now: 6_233) == 0, "before the timeout")
        #expect(fleet.inventory.expireStalled(now: 6_299) == 0, "its tenth has not passed")
        #expect(fleet.inventory.expireStalled(now: 6_300) == 1)
        #expect(fleet.inventory.state.withLock { $0.agents[uid]?.track?.state } == .stalled)
        #expect(fleet.inventory.expireStalled(now: 60_000) == 0, "once")
    }

    /// Pins are set in chunks (the inventory's lock is let go in between): every agent of a
    /// stage larger than a chunk is pinned, once.
    @Test func aStageLargerThanAChunkIsPinnedWhole() throws {
        let fleet = try AgentResourceTests.fleet(now: Box<Int64>(1_000))
        let n = Inventory.pinChunk * 2 + 7
        fleet.inventory.state.withLock { s in
            for i in 0..<n {
                s.replace(
                    FleetServiceTests.uid(i), nil,
                    with: AgentState(row: AgentRow(uid: FleetServiceTests.uid(i).description)))
            }
        }
        let pin = RolloutPin(rollout: "r", stage: 0, hash: "h")
        _ = fleet.inventory.pin((0..<n).map { (FleetServiceTests.uid($0), pin) }, now: 2_000)
        let pinned = fleet.inventory.state.withLock { s in s.agents.values.filter { $0.pin == pin }.count }
        #expect(pinned == n)
        #expect(fleet.inventory.state.withLock { $0.indexDisagreements() }.isEmpty)
    }
}

/// A config that uses a component an agent's build lacks is not sent to it: INCOMPATIBLE, with
/// the missing components named; an agent that reports the component later gets it.
@Suite struct ComponentCompatibilityTests {
    static func components(_ exporters: [String]) -> AvailableComponents {
        var available = AvailableComponents()
        var receivers = ComponentDetails()
        receivers.subComponentMap["otlp"] = ComponentDetails()
        var exporting = ComponentDetails()
        for type in exporters { exporting.subComponentMap[type] = ComponentDetails() }
        available.components = ["receivers": receivers, "exporters": exporting]
        available.hash = ConfigHash.sha256(Array(exporters.joined(separator: ",").utf8))
        return available
    }

    @Test func anAgentWithoutTheComponentIsIncompatibleAndNotSentTheConfig() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let fleet = try FleetServiceTests.service(try FleetStores.open(url))
        fleet.start()
        for i in 0..<3 {
            var hello = FleetServiceTests.firstMessage(i, env: "prod")
            hello.capabilities?.insert(.reportsAvailableComponents)
            hello.availableComponents = Self.components(i == 2 ? ["otlp"] : ["otlp", "debug"])
            fleet.record(hello)
        }
        #expect(fleet.waitUntilWritten(timeout: 10))
        let config = try fleet.putConfig(name: "dbg", body: TestConfigs.collector())
        let rollout = try fleet.createRollout(
            config: "dbg", version: config.version, target: .selector([:]), stages: [], soakSeconds: 0,
            gates: RolloutGates())
        #expect(rollout.counts[.incompatible] == 1 && rollout.counts[.applying] == 2)
        #expect(fleet.desiredState(for: FleetServiceTests.uid(2)).remoteConfig == nil, "not sent")
        #expect(fleet.desiredState(for: FleetServiceTests.uid(0)).remoteConfig != nil)
        let incompatible = fleet.agents(
            {
                var q = AgentQuery()
                q.configState = .incompatible
                return q
            }())
        #expect(incompatible.items.map(\.instanceUID) == [FleetServiceTests.uid(2).description])
        #expect(incompatible.items.first?.configMessage == "missing exporters/debug")

        // A new build with the exporter: the agent gets the config.
        var upgraded = StatusChanges()
        upgraded.instanceUID = FleetServiceTests.uid(2)
        upgraded.availableComponents = Self.components(["otlp", "debug"])
        fleet.record(upgraded)
        #expect(fleet.waitUntilWritten(timeout: 10))
        #expect(fleet.desiredState(for: FleetServiceTests.uid(2)).remoteConfig != nil)
        #expect(fleet.rollout(rollout.id)?.counts[.incompatible] == 0)
        #expect(fleet.stop())
    }
}
