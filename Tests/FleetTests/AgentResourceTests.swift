import Core
import Foundation
import Testing

@testable import Fleet

/// The operator plane's agent resources in the fleet: sorted listings, label and group filters,
/// group preconditions, effective configs with secrets redacted, custom messages.
@Suite struct AgentResourceTests {
    static func fleet(now: Box<Int64>, customCapabilities: [String] = []) throws -> FleetService {
        var options = FleetOptions(instance: "test")
        options.flushIntervalMilliseconds = 20
        options.clock = { now.value }
        options.customCapabilities = customCapabilities
        return try FleetService(store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
    }

    /// Polls until `condition` holds (the ingest thread applies what is recorded on its own
    /// time; the writer's flushes follow the fleet's clock, which these tests hold still).
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<2000 {
            if condition() { return true }
            usleep(5_000)
        }
        return false
    }

    /// Every agent once, in the order asked for, however the pages fall; ties by uid.
    @Test(arguments: [
        AgentSort(field: .uid, descending: false), AgentSort(field: .uid, descending: true),
        AgentSort(field: .firstSeen, descending: false), AgentSort(field: .firstSeen, descending: true),
    ])
    func sortedPagesCoverEveryAgentOnce(_ sort: AgentSort) throws {
        let now = Box<Int64>(1_000)
        let fleet = try Self.fleet(now: now)
        fleet.start()
        defer { fleet.stop() }
        // Three agents per first-seen time, so that ties have to be broken by uid.
        for i in 0..<60 {
            now.update { $0 = 1_000 + Int64((i * 37 % 60) / 3) }
            fleet.record(FleetServiceTests.firstMessage(i * 7 % 60, env: "prod"))
            #expect(Self.eventually { fleet.agents(AgentQuery()).total == i + 1 })
        }
        var query = AgentQuery()
        query.limit = 7
        query.sort = sort
        var seen: [AgentSummary] = []
        while true {
            let page = fleet.agents(query)
            #expect(page.total == 60)
            seen += page.items
            guard let next = page.nextCursor else { break }
            #expect(AgentCursor(next, sort: sort) != nil)
            query.cursor = next
        }
        #expect(Set(seen.map(\.instanceUID)).count == 60 && seen.count == 60)
        let keys = seen.map { agent -> (Int64, InstanceUID) in
            (sort.field == .firstSeen ? agent.firstSeen : 0, InstanceUID(string: agent.instanceUID)!)
        }
        let expected = keys.sorted { a, b in
            Inventory.before(AgentCursor(key: a.0, uid: a.1), AgentCursor(key: b.0, uid: b.1), sort.descending)
        }
        #expect(keys.map(\.1) == expected.map(\.1))
        if sort.field == .firstSeen {
            let times = keys.map(\.0)
            #expect(times == (sort.descending ? times.sorted(by: >) : times.sorted()))
        }
    }

    @Test func cursorsBelongToOneOrder() {
        let uid = FleetServiceTests.uid(1)
        #expect(AgentCursor(uid.description, sort: .uid) == AgentCursor(key: 0, uid: uid))
        let byTime = AgentSort(field: .lastSeen, descending: true)
        #expect(AgentCursor(uid.description, sort: byTime) == nil)
        #expect(AgentCursor("12_\(uid)", sort: byTime) == AgentCursor(key: 12, uid: uid))
        #expect(AgentCursor("12_\(uid)", sort: .uid) == nil)
        #expect(AgentCursor("x_\(uid)", sort: byTime) == nil)
        #expect(AgentSort("-lastSeen") == byTime && AgentSort("name") == nil && AgentSort("--uid") == nil)
    }

    /// A group's selector joins the query; a pair that contradicts it leaves nothing; an
    /// unknown group has no members.
    @Test func groupsAndLabelsFilterListings() throws {
        let now = Box<Int64>(1_000)
        let fleet = try Self.fleet(now: now)
        fleet.start()
        defer { fleet.stop() }
        for i in 0..<10 { fleet.record(FleetServiceTests.firstMessage(i, env: i < 4 ? "prod" : "dev")) }
        #expect(Self.eventually { fleet.agents(AgentQuery()).total == 10 })
        fleet.inventory.labels.add(["site": "paris"], to: FleetServiceTests.uid(1))
        fleet.inventory.labels.add(["site": "paris"], to: FleetServiceTests.uid(7))
        _ = try fleet.putGroup(name: "prod", selector: ["env": "prod"], description: "")
        _ = try fleet.putGroup(name: "paris", selector: ["label:site": "paris"], description: "")
        var query = AgentQuery()
        query.group = "prod"
        #expect(fleet.agents(query).total == 4)
        query.attributes = ["env": "dev"]
        #expect(fleet.agents(query).total == 0)
        query = AgentQuery()
        query.group = "paris"
        let paris = Set([FleetServiceTests.uid(1), FleetServiceTests.uid(7)].map(\.description))
        #expect(Set(fleet.agents(query).items.map(\.instanceUID)) == paris)
        query.attributes = ["env": "prod"]
        #expect(fleet.agents(query).items.map(\.instanceUID) == [FleetServiceTests.uid(1).description])
        query = AgentQuery()
        query.labels = ["site": "paris"]
        #expect(fleet.agents(query).total == 2)
        query.labels = ["site": "lyon"]
        #expect(fleet.agents(query).total == 0)
        query = AgentQuery()
        query.group = "nope"
        #expect(fleet.agents(query).total == 0 && !fleet.hasGroup("nope") && fleet.hasGroup("prod"))
    }

    /// Each change gets its own tag, even within one millisecond; a stale tag changes nothing.
    @Test func groupPreconditions() throws {
        let now = Box<Int64>(5_000)
        let fleet = try Self.fleet(now: now)
        let first = try fleet.putGroup(name: "g", selector: ["a": "1"], description: "")
        let second = try fleet.putGroup(name: "g", selector: ["a": "2"], description: "", ifMatch: first.etag)
        #expect(first.etag != second.etag, "same millisecond, another version")
        #expect(throws: FleetError.self) {
            try fleet.putGroup(name: "g", selector: ["a": "3"], description: "", ifMatch: first.etag)
        }
        #expect(fleet.group("g")?.selector == ["a": "2"])
        #expect(throws: FleetError.self) {
            try fleet.putGroup(name: "new", selector: [:], description: "", ifMatch: "*")
        }
        #expect(fleet.group("new") == nil)
        #expect(throws: FleetError.self) { try fleet.deleteGroup("g", ifMatch: first.etag) }
        #expect(try fleet.deleteGroup("g", ifMatch: "\"x\", \(second.etag)"))
        #expect(fleet.group("g") == nil)
    }

    /// Secrets never leave through the effective config; a file that is not YAML is withheld.
    @Test func effectiveConfigIsRedacted() throws {
        let fleet = try FleetServiceTests.service(try FleetStores.open(try TestDatabases.freshURL("sqlite")))
        fleet.start()
        defer { fleet.stop() }
        let yaml = "exporters:\n  otlphttp:\n    endpoint: https://x.example\n    headers:\n      api-key: k3y\n"
        var change = FleetServiceTests.firstMessage(1, env: "prod", config: yaml)
        var binary = AgentConfigFile()
        binary.body = [0, 1, 2, 0xff]
        change.effectiveConfig?.configMap?.configMap["z.bin"] = binary
        fleet.record(change)
        // Asked before and after the write: from the writer's queue, then from the database.
        var seen: AgentEffectiveConfig?
        for _ in 0..<200 where seen == nil {
            seen = try? fleet.effectiveConfig(of: FleetServiceTests.uid(1))
            if seen == nil { usleep(5_000) }
        }
        let early = try #require(seen)
        #expect(fleet.waitUntilWritten(timeout: 10))
        let config = try fleet.effectiveConfig(of: FleetServiceTests.uid(1))
        #expect(config == early)
        #expect(config.files.map(\.name) == ["", "z.bin"])
        let text = try #require(config.files[0].redacted)
        #expect(!text.contains("k3y") && text.contains("<redacted>") && text.contains("https://x.example"))
        #expect(config.files[1].redacted == nil && config.files[1].size == 4)
        #expect(throws: FleetError.self) { try fleet.effectiveConfig(of: FleetServiceTests.uid(99)) }
        #expect(throws: FleetError.self) { try fleet.availableComponents(of: FleetServiceTests.uid(1)) }
    }

    /// Kept per agent up to the bound, newest first; only for announced capabilities; the
    /// server announces its capabilities to every agent.
    @Test func customMessagesAreKeptBounded() throws {
        let now = Box<Int64>(1_000)
        let fleet = try Self.fleet(now: now, customCapabilities: ["io.example.a"])
        #expect(fleet.desiredState(for: FleetServiceTests.uid(1)).customCapabilities == ["io.example.a"])
        fleet.start()
        defer { fleet.stop() }
        fleet.record(FleetServiceTests.firstMessage(1, env: "prod"))
        for i in 0..<(CustomMessageLog.perAgent + 5) {
            var change = StatusChanges()
            change.instanceUID = FleetServiceTests.uid(1)
            var message = CustomMessage()
            message.capability = "io.example.a"
            message.type = "n\(i)"
            message.data = i == 0 ? [UInt8](repeating: 7, count: CustomMessageLog.maxDataBytes + 10) : [UInt8(i)]
            change.customMessage = message
            fleet.record(change)
        }
        #expect(
            Self.eventually {
                fleet.receivedCustomMessages(of: FleetServiceTests.uid(1))?.first?.type
                    == "n\(CustomMessageLog.perAgent + 4)"
            })
        let kept = try #require(fleet.receivedCustomMessages(of: FleetServiceTests.uid(1)))
        #expect(kept.count == CustomMessageLog.perAgent)
        #expect(kept.first?.type == "n\(CustomMessageLog.perAgent + 4)" && kept.last?.type == "n5")
        #expect(fleet.receivedCustomMessages(of: FleetServiceTests.uid(2)) == nil)
        // The agent announced nothing: nothing is sent to it.
        var message = CustomMessage()
        message.capability = "io.example.a"
        #expect(throws: FleetError.self) { try fleet.sendCustomMessage(message, to: FleetServiceTests.uid(1)) }
    }

    @Test func customMessageLogLetsTheOldestAgentsGo() {
        let log = CustomMessageLog()
        var message = CustomMessage()
        message.capability = "c"
        message.data = [UInt8](repeating: 1, count: CustomMessageLog.maxDataBytes * 2)
        log.record(message, from: FleetServiceTests.uid(0), at: 1)
        #expect(log.messages(of: FleetServiceTests.uid(0)).first?.data.count == CustomMessageLog.maxDataBytes)
        #expect(log.messages(of: FleetServiceTests.uid(0)).first?.size == CustomMessageLog.maxDataBytes * 2)
        message.data = []
        for i in 1...CustomMessageLog.maxAgents { log.record(message, from: FleetServiceTests.uid(i), at: 2) }
        #expect(log.messages(of: FleetServiceTests.uid(0)).isEmpty, "the first agent made room")
        #expect(log.messages(of: FleetServiceTests.uid(1)).count == 1)
        #expect(log.messages(of: FleetServiceTests.uid(CustomMessageLog.maxAgents)).count == 1)
    }

    /// Listed by id, newest first, never as the token; revoked ones stop enrolling at once.
    @Test func enrollmentTokensAreListedAndRevoked() throws {
        let now = Box<Int64>(1_000)
        let fleet = try Self.fleet(now: now)
        let first = try fleet.createEnrollmentToken(uses: 2, expiresAfterMilliseconds: nil, labels: ["a": "b"])
        now.update { $0 = 2_000 }
        let second = try fleet.createEnrollmentToken(uses: nil, expiresAfterMilliseconds: 60_000, labels: [:])
        let listed = fleet.enrollmentTokens()
        #expect(listed.map(\.id) == [EnrollmentTokenInfo.id(token: second), EnrollmentTokenInfo.id(token: first)])
        #expect(listed[1].usesLeft == 2 && listed[1].labels == ["a": "b"] && listed[0].expiresAt == 62_000)
        #expect(try fleet.revokeEnrollmentToken(id: listed[1].id))
        #expect(!fleet.enrollmentIsValid(tokenHash: Secrets.hash(first)))
        #expect(fleet.enrollmentIsValid(tokenHash: Secrets.hash(second)))
        #expect(try !fleet.revokeEnrollmentToken(id: listed[1].id))
        fleet.enrollment.refresh()
        #expect(fleet.enrollmentTokens().count == 1, "a refresh does not bring a revoked token back")
    }
}
