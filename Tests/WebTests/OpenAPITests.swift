import Foundation
import Hummingbird
import Testing

@testable import Web

/// `Sources/Web/openapi.json` is the API's contract: it describes exactly the operations the
/// router has, each with the role the access table gives it.
@Suite struct OpenAPITests {
    static let methods = ["get", "put", "post", "delete", "patch", "options", "trace"]

    /// The document as committed, read from the source tree rather than the binary.
    static func document() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Sources/Web/openapi.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any])
    }

    /// `"GET /api/v1/agents/{uid}"` for each operation of the document.
    static func operations(_ document: [String: Any]) throws -> [String: [String: Any]] {
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var out: [String: [String: Any]] = [:]
        for (path, item) in paths {
            for method in methods {
                if let operation = item[method] as? [String: Any] { out["\(method.uppercased()) \(path)"] = operation }
            }
        }
        return out
    }

    @Test func everyRouteIsDocumentedAndEveryOperationRouted() throws {
        let rig = try AccessTests.Rig()
        defer { rig.fleet.close() }
        // The web UI's pages and assets are for browsers, not part of the API's contract.
        let routed = Set(
            rig.api.router().routes.filter { $0.method != .head }.map { "\($0.method.rawValue) \($0.path.description)" }
        ).subtracting(OperatorAPI.uiRouteKeys)
        let documented = Set(try Self.operations(Self.document()).keys)
        let undocumented = routed.subtracting(documented).sorted()
        let stale = documented.subtracting(routed).sorted()
        #expect(undocumented.isEmpty, "routed but not in openapi.json: \(undocumented.joined(separator: ", "))")
        #expect(stale.isEmpty, "in openapi.json but not routed: \(stale.joined(separator: ", "))")
    }

    @Test func eachOperationNamesTheRoleTheAccessTableGivesIt() throws {
        for (key, operation) in try Self.operations(Self.document()).sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ", maxSplits: 1)
            let method = HTTPRequest.Method(String(parts[0]))!
            let rule = AccessRules.rule(method: method, endpoint: String(parts[1]), protectMetrics: false)
            let role = rule?.role
            let responses = operation["responses"] as? [String: Any] ?? [:]
            if let role {
                #expect(operation["x-ampora-role"] as? String == role.rawValue, "\(key): x-ampora-role")
                #expect(operation["security"] == nil, "\(key) is protected: the global bearer scheme applies")
                #expect(responses["401"] != nil && responses["403"] != nil, "\(key) documents no 401 or 403")
                let description = operation["description"] as? String ?? ""
                #expect(description.contains("Requires the \(role.rawValue) role."), "\(key): the role in words")
            } else {
                #expect(operation["x-ampora-role"] == nil, "\(key) is public")
                #expect((operation["security"] as? [Any])?.isEmpty == true, "\(key) is public: security must be []")
            }
        }
    }
}
