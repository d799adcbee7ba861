import Core
import Testing

@testable import Fleet

/// The loops' hand-over: one lane per loop, merged back into hand-over order.
@Suite struct IntakeTests {
    @Test func changesFromDifferentLoopsComeOutInHandOverOrder() {
        let intake = Intake()
        for i in 0..<200 {
            var c = StatusChanges()
            c.instanceUID = FleetServiceTests.uid(i)
            intake.record(c, loop: (i * 7) % 5)
        }
        intake.heartbeat(FleetServiceTests.uid(1), loop: 3)
        #expect(intake.handedOver == 201)
        var spares: [Intake.Buffers] = []
        var changes: [StatusChanges] = []
        var beats: [InstanceUID] = []
        intake.drain(&spares, changes: &changes, beats: &beats)
        #expect(changes.map(\.instanceUID) == (0..<200).map(FleetServiceTests.uid))
        #expect(beats == [FleetServiceTests.uid(1)])
        changes.removeAll()
        beats.removeAll()
        intake.drain(&spares, changes: &changes, beats: &beats)
        #expect(changes.isEmpty && beats.isEmpty)
    }
}
