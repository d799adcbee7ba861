import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct GatewayLinkTests {
    @Test func cLibrariesAreLinked() {
        let names = Gateway.linkedLibraries.map(\.name)
        #expect(names == ["liburing", "openssl", "zlib"])
        #expect(Gateway.linkedLibraries.allSatisfy { !$0.version.isEmpty })
    }
}
