import Fleet
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Prometheus
import Testing

@testable import Web

/// The access table is complete and the middleware applies it: every routed method and path
/// has a rule, every rule a route, and each role gets exactly what its rule allows.
@Suite struct AccessTests {
    /// An API over a fleet on a fresh SQLite file, with a token per role.
    final class Rig: Sendable {
        let fleet: FleetService
        let api: OperatorAPI
        let tokens: [OperatorRole: String]

        init() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ampora-web-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            fleet = try FleetService(
                store: FleetStores.open("sqlite:" + dir.appendingPathComponent("web.db").path),
                options: FleetOptions(instance: "test"))
            api = OperatorAPI(
                fleet: fleet, metrics: PrometheusCollectorRegistry(), refreshMetrics: {}, isReady: { true })
            var made: [OperatorRole: String] = [:]
            for role in OperatorRole.allCases {
                made[role] =
                    try fleet.createAccessToken(
                        role: role, name: role.rawValue, expiresAfterMilliseconds: nil, createdBy: "test"
                    ).token
            }
            tokens = made
        }

        /// Answers one request in process, as the server would.
        func send(_ method: HTTPRequest.Method, _ path: String, token: String?, body: String = "") async throws
            -> Response
        {
            var fields = HTTPFields()
            if let token { fields[.authorization] = "Bearer \(token)" }
            fields[.contentType] = "application/json"
            let request = Request(
                head: HTTPRequest(method: method, scheme: "http", authority: "t", path: path, headerFields: fields),
                body: RequestBody(buffer: ByteBuffer(string: body)))
            return try await api.router().buildResponder().respond(to: request, context: .inProcess())
        }
    }

    /// A concrete path for a route pattern.
    static func sample(_ pattern: String) -> String {
        let values = [
            "{uid}": "6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098", "{name}": "c", "{version}": "1", "{other}": "2",
            "{id}": "x", "{action}": "pause",
        ]
        return pattern.split(separator: "/").map { values[String($0)] ?? String($0) }.reduce("") { $0 + "/" + $1 }
    }

    @Test func everyRouteHasARuleAndEveryRuleARoute() throws {
        let rig = try Rig()
        defer { rig.fleet.close() }
        let routes = rig.api.router().routes.filter { $0.method != .head }
        #expect(routes.count >= AccessRules.table.count)
        for route in routes {
            let rule = AccessRules.rule(method: route.method, endpoint: route.path.description, protectMetrics: false)
            #expect(rule != nil, "\(route.method) \(route.path) has no access rule")
        }
        let routed = Set(routes.map { "\($0.method.rawValue) \($0.path.description)" })
        for key in AccessRules.table.keys {
            #expect(routed.contains(key), "\(key) has a rule but no route")
        }
        for (key, rule) in AccessRules.table where !key.hasPrefix("GET ") {
            #expect(!rule.action.isEmpty, "\(key) changes state but names no audit action")
        }
    }

    @Test func eachRoleGetsWhatItsRuleAllows() async throws {
        let rig = try Rig()
        defer { rig.fleet.close() }
        for (key, rule) in AccessRules.table.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ")
            let method = HTTPRequest.Method(String(parts[0]))!
            let path = Self.sample(String(parts[1]))
            guard let needed = rule.role else {
                #expect(try await rig.send(method, path, token: nil).status != .unauthorized, "\(key)")
                continue
            }
            let stranger = try await rig.send(method, path, token: nil)
            if OperatorAPI.uiRouteKeys.contains(key) {
                // A page sends a person to sign in, and back to the page afterwards.
                #expect(stranger.status == .seeOther, "\(key) without a token")
                #expect(stranger.headers[.location]?.hasPrefix("/login?next=") == true, "\(key)")
            } else {
                #expect(stranger.status == .unauthorized, "\(key) without a token")
                #expect(stranger.headers[.wwwAuthenticate] == "Bearer realm=\"ampora\"")
            }
            for role in OperatorRole.allCases {
                let status = try await rig.send(method, path, token: rig.tokens[role], body: "{}").status
                if role.allows(needed) {
                    #expect(status != .forbidden && status != .unauthorized, "\(key) as \(role): \(status)")
                } else {
                    #expect(status == .forbidden, "\(key) as \(role): \(status)")
                }
            }
        }
    }

    @Test func changesAreAuditedWithTheirRequestIDAndReadsAreNot() async throws {
        let rig = try Rig()
        defer { rig.fleet.close() }
        _ = try await rig.send(.get, "/api/v1/agents", token: rig.tokens[.viewer])
        #expect(try rig.fleet.auditPage(AuditQuery()).total == 0)
        let made = try await rig.send(
            .put, "/api/v1/groups/edge", token: rig.tokens[.operator], body: #"{"selector": {"env": "edge"}}"#)
        let refused = try await rig.send(.delete, "/api/v1/groups/edge", token: rig.tokens[.viewer])
        #expect(refused.status == .forbidden)
        let page = try rig.fleet.auditPage(AuditQuery())
        #expect(page.items.map(\.action) == ["group.delete", "group.put"])
        #expect(page.items.map(\.outcome) == ["denied", "ok"])
        #expect(page.items[1].actor == "operator" && page.items[1].role == "operator")
        #expect(page.items[1].requestID == made.headers[Access.requestIDField])
        #expect(page.items[0].target == "/api/v1/groups/edge")
    }

    @Test func expiredAndRevokedTokensAreRefusedAtOnce() async throws {
        let rig = try Rig()
        defer { rig.fleet.close() }
        let (token, info) = try rig.fleet.createAccessToken(
            role: .admin, name: "brief", expiresAfterMilliseconds: 1, createdBy: "test")
        try await Task.sleep(for: .milliseconds(5))
        #expect(rig.fleet.authenticate(token: token) == .expired)
        #expect(try await rig.send(.get, "/api/v1/agents", token: token).status == .unauthorized)
        let other = try await rig.send(.get, "/api/v1/agents", token: rig.tokens[.operator])
        #expect(other.status == .ok)
        #expect(try rig.fleet.revokeAccessToken(id: info.id))
        let operatorID = rig.fleet.accessTokens().first { $0.name == "operator" }!.id
        #expect(try rig.fleet.revokeAccessToken(id: operatorID))
        #expect(try await rig.send(.get, "/api/v1/agents", token: rig.tokens[.operator]).status == .unauthorized)
        #expect(try !rig.fleet.revokeAccessToken(id: operatorID), "a second revocation finds nothing")
    }
}

extension OperatorContext {
    /// A context for a request answered in process, as the server would make one for a
    /// connection. The context takes what it needs from the channel (allocator, peer address)
    /// when made; the channel is then finished and let go here, synchronously, on the thread that
    /// made it (an EmbeddedChannel is bound to that thread). Left open, a channel and its pipeline
    /// hold each other: the AddressSanitizer run (scripts/sanitize.sh) reported every one as a leak.
    static func inProcess() -> OperatorContext {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        return OperatorContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test")))
    }
}
