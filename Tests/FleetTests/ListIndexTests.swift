import Core
import Testing

@testable import Fleet

/// The list index follows every store, removal and heartbeat of the inventory's states.
@Suite struct ListIndexTests {
    static func state(_ i: Int, attributes: Int, connected: Bool, healthy: Bool?, seen: Int64) -> AgentState {
        var row = AgentRow(uid: FleetServiceTests.uid(i).description)
        row.connected = connected
        row.firstSeen = seen
        row.lastSeen = seen
        var state = AgentState(row: row)
        state.attributes = (0..<attributes).map { (key: "k\($0)", value: "v\(i % 3)") }
        state.healthy = healthy
        return state
    }

    /// Random stores (new agents and changed ones, attributes kept or replaced), changes in
    /// place, removals from anywhere and heartbeats, checked against the states (the index and
    /// every counter) after each step.
    @Test func followsRandomChanges() {
        var s = InventoryState()
        s.instance = "here"
        var random = SystemRandomNumberGenerator()
        var live: [Int] = []
        for step in 0..<3000 {
            let roll = Int.random(in: 0..<10, using: &random)
            if roll < 4 || live.isEmpty {
                let i = Int.random(in: 0..<400, using: &random)
                let uid = FleetServiceTests.uid(i)
                let before = s.agents[uid]
                var next = Self.state(
                    i, attributes: Int.random(in: 0..<12, using: &random), connected: Bool.random(using: &random),
                    healthy: [true, false, nil].randomElement(using: &random)!, seen: Int64(step))
                if let before, Bool.random(using: &random) { next.attributes = before.attributes }
                s.replace(uid, before, with: next)
                if before == nil { live.append(i) }
            } else if roll < 5 {
                // Changed in place, as the ingest and the rollout controller do.
                let i = live.randomElement(using: &random)!
                guard let position = s.agents.index(forKey: FleetServiceTests.uid(i)) else { continue }
                let attributes = Int.random(in: 0..<12, using: &random)
                let states = ConfigState.allCases
                s.update(at: position) { state in
                    state.row.connected = Bool.random(using: &random)
                    state.row.owner = ["", "here", "there"].randomElement(using: &random)!
                    state.row.lastSeen = Int64(step)
                    state.healthy = [true, false, nil].randomElement(using: &random)!
                    if Bool.random(using: &random) {
                        // Freed first at times, so the new array may take the old one's address.
                        if Bool.random(using: &random) { state.attributes = [] }
                        state.attributes =
                            Self.state(i, attributes: attributes, connected: false, healthy: nil, seen: 0).attributes
                    }
                    state.track =
                        Bool.random(using: &random)
                        ? nil
                        : ConfigTrack(
                            target: ["a", "b"].randomElement(using: &random)!, previous: nil,
                            state: states.randomElement(using: &random)!, since: Int64(step))
                    state.pin =
                        Bool.random(using: &random)
                        ? nil
                        : RolloutPin(rollout: ["r1", "r2"].randomElement(using: &random)!, stage: step % 3, hash: "a")
                }
            } else if roll < 6 {
                let at = Int.random(in: 0..<live.count, using: &random)
                s.remove(FleetServiceTests.uid(live[at]))
                live.remove(at: at)
            } else {
                let uid = FleetServiceTests.uid(live.randomElement(using: &random)!)
                if let index = s.agents.index(forKey: uid) { s.seen(at: index, now: Int64(step) * 10) }
            }
            let wrong = s.indexDisagreements()
            #expect(wrong.isEmpty, "step \(step): \(wrong.prefix(3))")
            if !wrong.isEmpty { return }
        }
    }

    /// Filters read from the index give what the states say, also past eight attributes.
    @Test func listingsAgreeWithTheStates() throws {
        let now = Box<Int64>(1_000)
        let fleet = try AgentResourceTests.fleet(now: now)
        fleet.inventory.state.withLock { s in
            for i in 0..<300 {
                let state = Self.state(
                    i, attributes: i % 11, connected: i % 2 == 0, healthy: i % 5 == 0 ? nil : i % 3 == 0,
                    seen: Int64(i))
                s.replace(FleetServiceTests.uid(i), nil, with: state)
            }
        }
        for (key, value) in [("k0", "v0"), ("k9", "v1"), ("k10", "v2"), ("k3", "nope")] {
            for connected in [nil, true, false] as [Bool?] {
                for healthy in [nil, true, false] as [Bool?] {
                    var query = AgentQuery()
                    query.attributes = [key: value]
                    query.connected = connected
                    query.healthy = healthy
                    query.limit = 1000
                    let expected = (0..<300).filter { i in
                        let state = Self.state(
                            i, attributes: i % 11, connected: i % 2 == 0, healthy: i % 5 == 0 ? nil : i % 3 == 0,
                            seen: 0)
                        return AgentState.matches(state.attributes, [key: value])
                            && (connected.map { $0 == state.row.connected } ?? true)
                            && (healthy.map { $0 == state.healthy } ?? true)
                    }
                    let page = fleet.agents(query)
                    #expect(page.total == expected.count, "\(key)=\(value) \(String(describing: connected))")
                    #expect(
                        Set(page.items.map(\.instanceUID))
                            == Set(expected.map { FleetServiceTests.uid($0).description }))
                }
            }
        }
        let facets = fleet.inventory.facets()
        #expect(facets.total == 300 && facets.healthy == 80 && facets.unhealthy == 160)
    }
}
