import Testing

@testable import Toolkit

@Suite struct ToolkitSmokeTests {
    @Test func moduleLinks() {
        #expect(Toolkit.self == Toolkit.self)
    }
}
