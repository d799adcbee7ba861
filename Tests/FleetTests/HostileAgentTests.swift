import Core
import Foundation
import Testing

@testable import Fleet

/// Regression tests for what one hostile agent could do to the fleet layer (see the README's
/// limits): attribute floods, an inventory that only grows, huge agent documents.
@Suite struct HostileAgentTests {
    static func description(keys: Int, distinct: Bool = true) -> AgentDescription {
        var d = AgentDescription()
        d.nonIdentifyingAttributes = (0..<keys).map { i in
            var kv = KeyValue()
            kv.key = distinct ? "k\(i)" : "same"
            var v = AnyValue()
            v.value = .stringValue("v\(i)")
            kv.value = v
            return kv
        }
        return d
    }

    /// 40 000 distinct keys took ~20 s with the linear scan per key (O(n²) comparisons, 8·10⁸);
    /// a hash set makes it a few milliseconds. The bound is generous (a debug build, a busy
    /// machine) and still two orders of magnitude below the quadratic cost; scaled under the
    /// sanitizers (TestTiming), which slow both alike.
    @Test func attributeExtractionIsLinear() {
        let d = Self.description(keys: 40_000)
        let clock = ContinuousClock()
        let started = clock.now
        let attributes = AgentState.attributes(of: d)
        #expect(clock.now - started < .seconds(TestTiming.seconds(2)))
        #expect(attributes.count == 40_000)
        #expect(attributes.first?.key == "k0")
    }

    @Test func identifyingAttributesWinOverNonIdentifyingOnesWithTheSameKey() {
        var d = Self.description(keys: 3, distinct: false)
        var id = KeyValue()
        id.key = "same"
        var v = AnyValue()
        v.value = .stringValue("identifying")
        id.value = v
        d.identifyingAttributes = [id]
        #expect(AgentState.attributes(of: d).map(\.value) == ["identifying"])
    }

    @Test func theInventoryStopsAtMaxAgentsAndKnownAgentsStayWelcome() throws {
        var options = FleetOptions(instance: "test")
        options.maxAgents = 3
        options.flushIntervalMilliseconds = 20
        let fleet = try FleetService(
            store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
        fleet.start()
        defer { fleet.stop() }
        for i in 0..<3 {
            #expect(!fleet.isKnown(FleetServiceTests.uid(i)))
            #expect(fleet.register(FleetServiceTests.uid(i)))
        }
        #expect(!fleet.register(FleetServiceTests.uid(3)), "the fourth new agent is turned away")
        #expect(fleet.register(FleetServiceTests.uid(1)), "a known agent is never turned away")
        #expect(fleet.isKnown(FleetServiceTests.uid(2)))
        fleet.record(FleetServiceTests.firstMessage(0, env: "prod"))
        #expect(fleet.waitUntilWritten(timeout: 10))
        #expect(!fleet.register(FleetServiceTests.uid(4)))
    }

    @Test func roomForAnAgentThatNeverArrivesIsGivenBack() throws {
        var options = FleetOptions(instance: "test")
        options.maxAgents = 1
        let fleet = try FleetService(
            store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
        #expect(fleet.register(FleetServiceTests.uid(1)))
        #expect(!fleet.register(FleetServiceTests.uid(2)))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        fleet.dropStaleReservations(now: now + 1_000)
        #expect(!fleet.register(FleetServiceTests.uid(2)), "a fresh reservation is kept")
        fleet.dropStaleReservations(now: now + 120_000)
        #expect(fleet.register(FleetServiceTests.uid(2)), "uid 1 never sent anything: its room is free")
        #expect(!fleet.isKnown(FleetServiceTests.uid(1)))
    }

    @Test(arguments: TestDatabases.backends)
    func agentsNotSeenForTheRetentionPeriodAreForgotten(_ backend: String) throws {
        let url = try TestDatabases.freshURL(backend)
        var options = FleetOptions(instance: "test")
        options.flushIntervalMilliseconds = 20
        options.forgetAfterMilliseconds = 60_000
        let fleet = try FleetService(store: try FleetStores.open(url), options: options)
        fleet.start()
        for i in 0..<4 { fleet.record(FleetServiceTests.firstMessage(i, env: "prod")) }
        for i in 0..<2 {
            var bye = StatusChanges()
            bye.instanceUID = FleetServiceTests.uid(i)
            bye.disconnected = true
            fleet.record(bye)
        }
        #expect(fleet.waitUntilWritten(timeout: 10))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        fleet.forgetStale(now: now + 30_000)
        #expect(fleet.metrics.agentsForgotten == 0, "not yet: last seen 30 s before")
        fleet.forgetStale(now: now + 120_000)
        #expect(fleet.metrics.agentsForgotten == 2, "the two disconnected agents only")
        #expect(fleet.agent(FleetServiceTests.uid(0)) == nil)
        #expect(fleet.agent(FleetServiceTests.uid(2)) != nil, "connected agents are kept")
        #expect(!fleet.isKnown(FleetServiceTests.uid(0)))
        #expect(fleet.waitUntilWritten(timeout: 10))
        fleet.stop()
        let rows = try FleetStores.open(url).loadAgents().map(\.uid)
        #expect(Set(rows) == [FleetServiceTests.uid(2).description, FleetServiceTests.uid(3).description])
        let store = try FleetStores.open(url)
        #expect(try store.history(uid: FleetServiceTests.uid(0).description, limit: 10).isEmpty)
        #expect(try !store.history(uid: FleetServiceTests.uid(2).description, limit: 10).isEmpty)
    }

    @Test func configNamesDotAndDotDotAreRefused() {
        #expect(!FleetService.isValidName("."))
        #expect(!FleetService.isValidName(".."))
        #expect(FleetService.isValidName("..."))
        #expect(FleetService.isValidName("prod.base"))
    }

    /// The agent document shows a bounded prefix of each value and list: viewing an agent that
    /// reported megabytes costs kilobytes.
    @Test func agentDocumentsAreBounded() {
        var d = AgentDescription()
        var long = KeyValue()
        long.key = "long"
        var v = AnyValue()
        v.value = .stringValue(String(repeating: "é", count: 100_000))
        long.value = v
        var list = KeyValue()
        list.key = "list"
        var a = AnyValue()
        var array = ArrayValue()
        array.values = (0..<10_000).map { _ in v }
        a.value = .arrayValue(array)
        list.value = a
        d.identifyingAttributes = [long, list]
        let (bounded, truncated) = BoundedRendering.description(d)
        #expect(truncated)
        let json = bounded.jsonString(pretty: false)
        #expect(json.utf8.count < 2 * BoundedRendering.maxListElements * BoundedRendering.maxStringBytes)
        guard case .stringValue(let s) = bounded.identifyingAttributes[0].value?.value else {
            Issue.record("the string stays a string")
            return
        }
        #expect(s.hasSuffix("…") && s.utf8.count <= BoundedRendering.maxStringBytes + 3)
        #expect(!BoundedRendering.description(Self.description(keys: 10)).truncated)
    }
}
