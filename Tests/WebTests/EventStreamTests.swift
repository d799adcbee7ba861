import Fleet
import Foundation
import Testing

@testable import Web

/// The frames event stream subscribers receive.
@Suite struct EventStreamTests {
    @Test func agentFramesAreTheJSONOfTheGeneralPath() throws {
        let detail = "FAILED 3fa9: \"quoted\", back\\slash, new\nline, tab\t, bell\u{7}, é 日本"
        let event = FleetEvent(
            id: 42, at: 1_764_000_000_123, kind: .agentConfig, agent: "6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098",
            detail: detail)
        let frame = OperatorAPI.eventFrame(event)
        let lines = frame.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "id: 42" && lines[1] == "event: agent.config" && frame.hasSuffix("\n\n"))
        let data = try #require(lines.first { $0.hasPrefix("data: ") }).dropFirst(6)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: String])
        #expect(
            parsed == [
                "agent": "6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098", "detail": detail, "id": "42", "kind": "agent.config",
                "time": OperatorAPI.rfc3339(1_764_000_000_123),
            ])
    }
}

/// The listing's hand-written JSON says what JSONSerialization would.
@Suite struct AgentJSONTests {
    @Test func theWrittenSummaryIsTheSummaryJSON() async throws {
        var a = AgentSummary(instanceUID: "6f1d3c2a-9b8e-4c7d-a6f5-e4d3c2b1a098")
        a.connected = true
        a.firstSeen = 1_764_000_000_001
        a.lastSeen = 1_764_999_999_999
        a.attributes = [("service.name", "otelcol"), ("q\"uote", "new\nline é"), ("service.name", "last wins")]
        a.capabilities = 6151
        a.healthy = false
        a.configState = .failed
        a.configMessage = "exporter \"otlp\" failed\tto start"
        a.remoteConfigStatus = (hash: "ab12", status: "FAILED", error: "bad\\config")
        var b = AgentSummary(instanceUID: "00000000-0000-0000-0000-000000000001")
        b.effectiveConfigHash = "ff"
        b.desiredConfigHash = "ee"
        for summary in [a, b] {
            var text: [UInt8] = []
            OperatorAPI.appendSummary(summary, to: &text)
            let fast = try JSONSerialization.jsonObject(with: Data(text))
            let slow = try JSONSerialization.jsonObject(
                with: JSONSerialization.data(withJSONObject: OperatorAPI.summaryJSON(summary)))
            #expect((fast as? NSDictionary) == (slow as? NSDictionary))
        }
        #expect(OperatorAPI.rfc3339(1_764_000_000_001) == "2025-11-24T16:00:00.001Z")
        // A page is the summaries in one buffer, with its cursor and total.
        let writer = UITests.CollectingWriter()
        try await OperatorAPI.pageText(AgentPage([a, b], total: 7, nextCursor: "c\"1")).body.write(writer)
        let page = try #require(
            try JSONSerialization.jsonObject(with: Data(writer.text.utf8)) as? [String: Any])
        #expect(page["total"] as? Int == 7 && page["nextCursor"] as? String == "c\"1")
        let items = try #require(page["items"] as? [[String: Any]])
        #expect(items.map { $0["instanceUid"] as? String } == [a.instanceUID, b.instanceUID])
        #expect((items[0]["attributes"] as? [String: String])?["service.name"] == "last wins")
    }
}
