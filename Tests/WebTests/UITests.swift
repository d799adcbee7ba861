import Fleet
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Web

/// The web UI: its pages escape what agents and operators wrote, sign-in makes a session like
/// an OIDC login does, and page requests without one are sent to sign in.
@Suite struct UITests {
    static let evil = "<script>alert(1)</script>\"'&"

    /// A request with the given headers, answered in process; the body as text.
    static func send(
        _ rig: AccessTests.Rig, _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [],
        body: String = ""
    ) async throws -> (Response, String) {
        var fields = HTTPFields()
        for (name, value) in headers {
            fields.append(HTTPFields.Element(name: HTTPFields.Element.Name(name)!, value: value))
        }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "t", path: path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(string: body)))
        let response = try await rig.api.router().buildResponder().respond(to: request, context: .inProcess())
        let writer = CollectingWriter()
        try await response.body.write(writer)
        return (response, writer.text)
    }

    /// Keeps what a response body writes.
    final class CollectingWriter: ResponseBodyWriter, @unchecked Sendable {
        var text = ""
        func write(_ buffer: ByteBuffer) async throws { text += String(buffer: buffer) }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test func interpolatedTextIsEscaped() {
        let cell: HTML = "<td title=\"\(Self.evil)\">\(Self.evil)</td>"
        #expect(
            cell.text
                == "<td title=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\">&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;</td>"
        )
        let nested: HTML = "<p>\(cell)</p>"
        #expect(nested.text == "<p>" + cell.text + "</p>", "HTML goes in as it is")
        #expect(HTML.escape("a\u{1}b") == "a\u{FFFD}b")
    }

    @Test func agentPagesEscapeAttributes() {
        var agent = AgentSummary(instanceUID: "6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098")
        agent.attributes = [("host.name", Self.evil), (Self.evil, "x"), ("service.name", "svc")]
        agent.configMessage = Self.evil
        let viewer = UI.Viewer(name: Self.evil, role: .operator)
        let list = UI.agentsPage(
            AgentPage([agent], total: 1, nextCursor: nil),
            filter: UI.AgentFilter(
                search: Self.evil, attributes: "a=\(Self.evil)", columns: ["attributes", "service"]),
            groups: [Self.evil], problem: Self.evil, viewer: viewer
        ).text
        let detail = UI.agentPage(
            AgentDetail(
                summary: agent, owner: Self.evil, labels: [Self.evil: Self.evil],
                history: [AgentEvent(Self.evil, at: 1, detail: Self.evil)], historyComplete: true),
            health: ["healthy": false, "lastError": Self.evil, "componentHealthMap": [Self.evil: ["healthy": true]]],
            graph: (Self.evil, 3),
            reports: UI.AgentReports(
                componentsJSON:
                    #"{"components": {"receivers": {"subComponentMap": {"EVIL": {"metadata": [{"key": "EVIL", "value": {"stringValue": "EVIL"}}]}}}}}"#
                    .replacingOccurrences(of: "EVIL", with: Self.evil.replacingOccurrences(of: "\"", with: "\\\""))),
            viewer: viewer
        ).text
        for page in [list, detail] {
            #expect(!page.contains("<script>alert"))
            #expect(!page.contains("\"'&<"))
            #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
        #expect(
            detail.contains("/api/v1/configs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26/versions/3/graph.svg"))
    }

    /// A form's change sends the browser back to the page the form is on.
    @Test func formsGoBackToTheirPage() {
        #expect(
            OperatorAPI.formPage("/agents/6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098/restart")
                == "/agents/6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098")
        #expect(OperatorAPI.formPage("/rollouts/r1/pause") == "/rollouts/r1")
        #expect(OperatorAPI.formPage("/enrollment/0123abcd/revoke") == "/enrollment")
        #expect(OperatorAPI.formPage("/enrollment/create") == "/enrollment")
        #expect(OperatorAPI.formPage("/groups/edge/delete") == "/groups")
    }

    /// The order is a choice of the filter form and part of every link the page makes.
    @Test func theAgentsPageKeepsItsOrder() {
        var filter = UI.AgentFilter()
        filter.sort = "-lastSeen"
        let page = UI.agentsPage(
            AgentPage([], total: 0, nextCursor: nil), filter: filter, groups: [], problem: nil,
            viewer: UI.Viewer(name: "v", role: .viewer)
        ).text
        #expect(page.contains("<option value=\"-lastSeen\" selected>"))
        #expect(filter.query(withCursor: "5_x").contains("sort=-lastSeen"))
        #expect(!UI.AgentFilter().query().contains("sort="), "the default order is left out of links")
    }

    @Test func configAndRolloutPagesEscapeNames() {
        let viewer = UI.Viewer(name: "a", role: .admin)
        let configs = UI.configsPage(
            [ConfigVersion(Self.evil, hash: "abc", version: 1, updatedAt: 0)], viewer: viewer
        ).text
        let info = ConfigVersionInfo(
            Self.evil, version: 1, hash: "h", author: Self.evil, message: Self.evil, createdAt: 0, draft: true,
            current: false, findings: [])
        let config = UI.configPage(
            UI.ConfigView(
                name: Self.evil, versions: [info], current: nil, shown: info, files: [(Self.evil, Self.evil)],
                diff: (
                    1, 2,
                    #"{"changes": [{"risk": "low", "kind": "component-added", "subject": "<script>", "detail": "<b>"}]}"#
                ),
                problem: Self.evil), viewer: viewer
        ).text
        let groups = UI.groupsPage(
            [
                AgentGroup(
                    name: Self.evil, selector: [Self.evil: Self.evil], description: Self.evil, createdAt: 0,
                    updatedAt: 0)
            ],
            viewer: viewer
        ).text
        for page in [configs, config, groups] {
            #expect(!page.contains("<script>alert"))
            #expect(page.contains("&lt;script&gt;"))
        }
    }

    @Test func configAndGroupPagesCountAgentsByConfigState() {
        let viewer = UI.Viewer(name: "v", role: .viewer)
        let versions = [2, 1].map {
            ConfigVersionInfo(
                "c", version: Int64($0), hash: "h\($0)", author: nil, message: nil, createdAt: 0, draft: false,
                current: $0 == 2, findings: [])
        }
        var view = UI.ConfigView(
            name: "c", versions: versions, current: 2, shown: versions[0], files: [], diff: nil, problem: nil)
        view.counts = [2: [.applied: 7, .failed: 2], 1: [.rolledBack: 3]]
        let config = UI.configPage(view, viewer: viewer).text
        #expect(config.contains("<span class=\"pill ok\">7 applied</span> <span class=\"pill bad\">2 failed</span>"))
        #expect(config.contains("<span class=\"pill bad\">3 rolled back</span>"))
        #expect(config.contains("aria-label=\"Agents of c by config state\""))
        #expect(config.contains("applied <strong>7</strong>"), "the bar's legend sums the versions")
        let untargeted = UI.configPage(
            UI.ConfigView(
                name: "c", versions: versions, current: 2, shown: versions[0], files: [], diff: nil, problem: nil),
            viewer: viewer
        ).text
        #expect(untargeted.contains("No agent is targeted"))
        var group = AgentGroup(name: "g", selector: ["k": "v"], description: "", createdAt: 0, updatedAt: 0)
        group.members.configStates = [.stalled: 4]
        #expect(UI.groupsPage([group], viewer: viewer).text.contains("<span class=\"pill warn\">4 stalled</span>"))
    }

    @Test func pagesSendStrangersToSignIn() async throws {
        let rig = try AccessTests.Rig()
        defer { rig.fleet.close() }
        let (page, _) = try await Self.send(rig, .get, "/agents?search=a%20b")
        #expect(page.status == .seeOther)
        #expect(page.headers[.location] == "/login?next=%2Fagents%3Fsearch%3Da%2520b")
        let (login, html) = try await Self.send(rig, .get, "/login?next=/agents")
        #expect(login.status == .ok)
        #expect(html.contains("name=\"token\""))
        #expect(login.headers[OperatorAPI.cspField]?.contains("script-src 'self'") == true)
        let (api, _) = try await Self.send(rig, .get, "/api/v1/agents")
        #expect(api.status == .unauthorized, "the API keeps its 401")
    }

    @Test func aTokenSignsInWithASessionAndCSRFCookie() async throws {
        let rig = try AccessTests.Rig()
        defer { rig.fleet.close() }
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        let (refused, text) = try await Self.send(
            rig, .post, "/login", headers: form, body: "token=nope&next=%2Fagents")
        #expect(refused.status == .unprocessableContent)
        #expect(try rig.fleet.auditPage(AuditQuery()).items.first?.outcome == "denied")
        #expect(text.contains("not known"))
        let token = rig.tokens[.viewer]!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let (signed, _) = try await Self.send(
            rig, .post, "/login", headers: form, body: "token=\(token)&next=%2Fagents%3Fhealthy%3Dtrue")
        #expect(signed.status == .seeOther)
        #expect(signed.headers[.location] == "/agents?healthy=true")
        let cookies = signed.headers[values: .setCookie]
        #expect(
            cookies.contains {
                $0.hasPrefix("ampora_session=") && $0.contains("HttpOnly") && $0.contains("SameSite=Strict")
            })
        #expect(cookies.contains { $0.hasPrefix("ampora_csrf=") })
        let jar = cookies.map { String($0.split(separator: ";")[0]) }.joined(separator: "; ")
        let (agents, html) = try await Self.send(rig, .get, "/agents", headers: [("Cookie", jar)])
        #expect(agents.status == .ok)
        #expect(html.contains("<h1>Agents</h1>"))
        #expect(!html.contains("href=\"/tokens\""), "a viewer is not offered the tokens page")
        let (tokens, refusal) = try await Self.send(rig, .get, "/tokens", headers: [("Cookie", jar)])
        #expect(tokens.status == .forbidden)
        #expect(refusal.contains("needs admin"))
        let (open, _) = try await Self.send(rig, .get, "/login?next=/groups", headers: [("Cookie", jar)])
        #expect(open.headers[.location] == "/groups", "a signed-in browser skips the form")
        let (crossSite, _) = try await Self.send(
            rig, .post, "/login", headers: form + [("Origin", "https://evil.example")], body: "token=\(token)")
        #expect(crossSite.status == .forbidden, "no login CSRF")
        let (sameSite, _) = try await Self.send(
            rig, .post, "/login", headers: form + [("Origin", "http://t")], body: "token=\(token)")
        #expect(sameSite.status == .seeOther)
        let (evil, _) = try await Self.send(
            rig, .post, "/login", headers: form, body: "token=\(token)&next=%2F%2Fevil.example")
        #expect(evil.headers[.location] == "/", "never an open redirect")
        // Signing out with the page's form (no script) ends the session and goes to sign in.
        let (signedAgain, _) = try await Self.send(
            rig, .post, "/login", headers: form, body: "token=\(token)&next=%2F")
        let again = signedAgain.headers[values: .setCookie].map { String($0.split(separator: ";")[0]) }
        let csrf = try #require(again.first { $0.hasPrefix("ampora_csrf=") }?.dropFirst(12))
        let (out, _) = try await Self.send(
            rig, .post, "/auth/logout", headers: form + [("Cookie", again.joined(separator: "; "))],
            body: "csrf=\(csrf)")
        #expect(out.status == .seeOther && out.headers[.location] == "/login")
        let (after, _) = try await Self.send(rig, .get, "/", headers: [("Cookie", again.joined(separator: "; "))])
        #expect(after.status == .seeOther)
        // Revoking the token ends the sessions it made.
        let id = try #require(rig.fleet.accessTokens().first { $0.name == "viewer" }?.id)
        #expect(try rig.fleet.revokeAccessToken(id: id))
        let (ended, _) = try await Self.send(rig, .get, "/agents", headers: [("Cookie", jar)])
        #expect(ended.status == .seeOther)
        #expect(ended.headers[.location]?.hasPrefix("/login?next=%2Fagents&expired=1") == true)
    }

    @Test func lintFindsWithoutStoringOrAuditing() async throws {
        let rig = try AccessTests.Rig()
        defer { rig.fleet.close() }
        let yaml =
            "receivers:\n  otlp:\n    protocols: {grpc: {}}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [nope]\n"
        let (response, text) = try await Self.send(
            rig, .post, "/api/v1/lint?file=a.yaml",
            headers: [("Authorization", "Bearer \(rig.tokens[.viewer]!)"), ("Content-Type", "text/yaml")], body: yaml)
        #expect(response.status == .ok)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect((object["errors"] as? Int ?? 0) >= 1)
        #expect(findings.contains { $0["line"] as? Int == 8 && $0["file"] as? String == "a.yaml" })
        #expect(rig.fleet.listConfigs().isEmpty)
        #expect(try rig.fleet.auditPage(AuditQuery()).total == 0)
    }
}
