import Testing

@testable import Fleet

/// The event stream's ring: bounded, shared, and honest about what a slow reader lost.
@Suite struct FleetEventsTests {
    @Test func aReaderThatFellBehindIsToldHowManyItLost() {
        let ring = FleetEvents(capacity: 4, startedAt: 1)
        let first = ring.latest
        for i in 0..<10 {
            ring.publish(history: [HistoryRow(uid: "u\(i)", at: Int64(i), kind: "connected", detail: "")])
        }
        let (events, next, lost) = ring.read(after: first)
        #expect(lost == 6 && events.map(\.event.agent) == ["u6", "u7", "u8", "u9"] && next == ring.latest)
        let odd = ring.read(after: first) { ($0.agent?.last?.wholeNumberValue ?? 0) % 2 == 1 }
        #expect(odd.events.map(\.event.agent) == ["u7", "u9"] && odd.next == ring.latest, "the cursor passes all")
        #expect(ring.read(after: ring.latest).events.isEmpty)
        #expect(ring.read(after: 5).lost == -1, "an id of an earlier run")
        ring.remember(frame: [1, 2, 3], for: events[0].event.id)
        #expect(ring.read(after: first).events[0].frame == [1, 2, 3])
        ring.publish(history: [HistoryRow(uid: "u10", at: 10, kind: "description_changed", detail: "")])
        #expect(ring.read(after: events[3].event.id).events.isEmpty, "history the stream does not carry")
    }

    @Test func theRingHoldsOnlyWhatWasPublishedUntilItWraps() {
        let ring = FleetEvents(capacity: 1_000_000, startedAt: 7)
        let first = ring.latest
        #expect(ring.held == 0)
        for i in 0..<3 { ring.publish(.agentConnected, at: Int64(i), agent: "a\(i)") }
        #expect(ring.held == 3, "a large ring costs nothing until events come")
        #expect(
            MemoryLayout<FleetEvent>.size <= 64,
            "a slot stays small (with its frame, 72 bytes): the rollout is out of line")
        #expect(ring.read(after: first).events.map(\.event.agent) == ["a0", "a1", "a2"])
        let small = FleetEvents(capacity: 5, startedAt: 7)
        let start = small.latest
        for i in 0..<12 {
            small.publish(.agentConnected, at: Int64(i), agent: "b\(i)")
            let (events, _, lost) = small.read(after: start)
            #expect(small.held == min(i + 1, 5))
            #expect(events.map(\.event.agent) == (max(0, i - 4)...i).map { "b\($0)" } && lost == Int64(max(0, i - 4)))
        }
        // Frames for ids the ring does not hold (an earlier run's, a future one) are ignored.
        small.remember(frame: [9], for: 3)
        small.remember(frame: [9], for: small.latest + 1)
        #expect(small.read(after: start).events.allSatisfy { $0.frame == nil })
    }
}
