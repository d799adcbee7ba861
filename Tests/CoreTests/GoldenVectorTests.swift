import Foundation
import Testing

@testable import Core

/// One vector produced by the reference implementation (scripts/gen_vectors.py).
struct GoldenVector: Sendable, CustomStringConvertible {
    var name: String
    var message: String
    var bytes: [UInt8]
    var valid: Bool
    var json: JSONValue?
    var description: String { name }
}

enum Golden {
    static let vectors: [GoldenVector] = load()

    static func load() -> [GoldenVector] {
        guard let url = Bundle.module.url(forResource: "vectors", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url),
            let root = try? JSONParser.parse(Array(data)),
            case .array(let items)? = root["vectors"]
        else { return [] }
        return items.compactMap { item -> GoldenVector? in
            guard case .string(let name)? = item["name"], case .string(let message)? = item["message"],
                case .string(let hex)? = item["hex"], case .bool(let valid)? = item["valid"]
            else { return nil }
            return GoldenVector(name: name, message: message, bytes: fromHex(hex), valid: valid, json: item["json"])
        }
    }

    static func fromHex(_ hex: String) -> [UInt8] {
        let chars = Array(hex.utf8)
        return stride(from: 0, to: chars.count, by: 2).map { i in
            UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16)!
        }
    }
}

/// Decodes with our codec and returns (owned JSON, view-path JSON, re-encoded bytes).
func decodeBoth(_ v: GoldenVector) throws -> (JSONValue, JSONValue, [UInt8]) {
    func run<M: ProtoMessage>(_: M.Type, view: (RawSpan) throws -> M) throws -> (
        JSONValue, JSONValue, [UInt8]
    ) {
        let owned = try M(serializedBytes: v.bytes)
        let viaView = try view(v.bytes.span.bytes)
        #expect(owned == viaView, "view path and owned path disagree for \(v.name)")
        return (
            try JSONParser.parse(Array(owned.jsonString().utf8)),
            try JSONParser.parse(Array(viaView.jsonString().utf8)),
            owned.serializedBytes()
        )
    }
    if v.message == "AgentToServer" {
        return try run(AgentToServer.self) { raw in try AgentToServerView.decode(raw) { $0.owned() } }
    }
    return try run(ServerToAgent.self) { raw in try ServerToAgentView.decode(raw) { $0.owned() } }
}

@Suite struct GoldenVectorTests {
    @Test func fixturesArePresent() {
        #expect(Golden.vectors.count > 500)
        #expect(Golden.vectors.contains { !$0.valid })
    }

    @Test(arguments: Golden.vectors.filter(\.valid))
    func decodesLikeTheReference(_ v: GoldenVector) throws {
        let (json, viewJSON, _) = try decodeBoth(v)
        #expect(json == v.json, "JSON differs from the reference for \(v.name)")
        #expect(viewJSON == v.json)
    }

    @Test(arguments: Golden.vectors.filter(\.valid))
    func reencodesToTheSameMessage(_ v: GoldenVector) throws {
        let (json, _, bytes) = try decodeBoth(v)
        let again = try decodeBoth(GoldenVector(name: v.name, message: v.message, bytes: bytes, valid: true, json: nil))
        #expect(again.0 == json)
    }

    @Test(arguments: Golden.vectors.filter(\.valid))
    func parsesTheReferenceJSON(_ v: GoldenVector) throws {
        guard let json = v.json else { return }
        if v.message == "AgentToServer" {
            #expect(try AgentToServer(json: json) == AgentToServer(serializedBytes: v.bytes))
        } else {
            #expect(try ServerToAgent(json: json) == ServerToAgent(serializedBytes: v.bytes))
        }
    }

    @Test(arguments: Golden.vectors.filter { !$0.valid })
    func rejectsWhatTheReferenceRejects(_ v: GoldenVector) {
        #expect(throws: ProtoDecodeError.self, "\(v.name) must be refused") {
            _ = try decodeBoth(v)
        }
    }
}
