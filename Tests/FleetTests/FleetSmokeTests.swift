import Testing

@testable import Fleet

@Suite struct FleetSmokeTests {
    @Test func moduleLinks() {
        #expect(!Fleet.linkedLibraries.isEmpty)
    }
}
