import Foundation
import Testing

@testable import Core

/// Replays every input kept in fuzz/regressions/: each once crashed or hung a decoder, or is a
/// hand-made hostile seed. Decoding must end in a value or a typed error.
@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/regressions")

    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    @Test func regressionsExist() {
        #expect(!Self.inputs.isEmpty)
    }

    @Test(arguments: inputs)
    func replay(_ name: String) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(name))
        let bytes = Array(data)
        _ = try? AgentToServer(serializedBytes: bytes)
        _ = try? ServerToAgent(serializedBytes: bytes)
        _ = try? AgentToServerView.decode(bytes.span.bytes) { $0.owned() }
        _ = try? JSONParser.parse(bytes)
    }
}
