import Fleet
import Foundation
import Hummingbird
import NIOCore

// Agent listings are the API's largest answers (a page of up to 1 000 agents, often at a
// million): they are written as text directly, with the same keys, order and values as
// `summaryJSON` through JSONSerialization, which costs ten times as much per item.
extension OperatorAPI {
    /// One agent of a listing as JSON text (keys sorted, as `json(_:)` writes them).
    static func summaryText(_ a: AgentSummary) -> String {
        var attributes: [String: String] = [:]
        for (key, value) in a.attributes { attributes[key] = value }
        var out = "{\"attributes\":{"
        var first = true
        for key in attributes.keys.sorted() {
            if !first { out += "," }
            first = false
            out += jsonString(key) + ":" + jsonString(attributes[key]!)
        }
        out += "},\"capabilities\":\(a.capabilities)"
        if !a.configMessage.isEmpty { out += ",\"configMessage\":" + jsonString(a.configMessage) }
        out += ",\"configState\":" + (a.configState.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"connected\":" + (a.connected ? "true" : "false")
        out += ",\"desiredConfigHash\":" + (a.desiredConfigHash.map(jsonString) ?? "null")
        out += ",\"effectiveConfigHash\":" + (a.effectiveConfigHash.map(jsonString) ?? "null")
        out += ",\"firstSeen\":\"" + rfc3339(a.firstSeen) + "\""
        out += ",\"healthy\":" + (a.healthy.map { $0 ? "true" : "false" } ?? "null")
        out += ",\"instance\":" + (a.instance.map(jsonString) ?? "null")
        out += ",\"instanceUid\":" + jsonString(a.instanceUID)
        out += ",\"lastSeen\":\"" + rfc3339(a.lastSeen) + "\""
        let remote = a.remoteConfigStatus ?? (hash: "", status: "UNSET", error: "")
        out += ",\"remoteConfigStatus\":{\"error\":" + jsonString(remote.error) + ",\"hash\":" + jsonString(remote.hash)
        out += ",\"status\":" + jsonString(remote.status) + "}}"
        return out
    }

    /// A listing's body: `{"items": [...], "nextCursor": …, "total": N}`.
    static func pageText(_ page: AgentPage) -> Response {
        var out = "{\"items\":["
        for (i, item) in page.items.enumerated() {
            if i > 0 { out += "," }
            out += summaryText(item)
        }
        out += "],\"nextCursor\":" + (page.nextCursor.map(jsonString) ?? "null") + ",\"total\":\(page.total)}\n"
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: out)))
    }
}
