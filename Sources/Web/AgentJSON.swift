import Core
import Fleet
import Foundation
import Hummingbird
import NIOCore

// Agent listings are the API's largest answers (a page of up to 1 000 agents, often at a
// million): they are written as text directly, with the same keys, order and values as
// `summaryJSON` through JSONSerialization, which costs ten times as much per item.
extension OperatorAPI {
    /// Appends one agent of a listing as JSON to `out` (keys sorted, as `json(_:)` writes
    /// them): a page of 1 000 is one buffer, with no string or dictionary made per value.
    static func appendSummary(_ a: AgentSummary, to out: inout [UInt8]) {
        func text(_ s: StaticString) {
            s.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        func quoted(_ s: String) { JSONWriter.appendQuoted(s, to: &out) }
        func optional(_ s: String?) {
            if let s { quoted(s) } else { text("null") }
        }
        text("{\"attributes\":{")
        // Sorted by key; of pairs with one key, the last one wins (as a dictionary would keep it).
        let pairs = a.attributes.enumerated().sorted {
            $0.element.key != $1.element.key ? $0.element.key < $1.element.key : $0.offset < $1.offset
        }
        var first = true
        for (i, pair) in pairs.enumerated() {
            if i + 1 < pairs.count && pairs[i + 1].element.key == pair.element.key { continue }
            if !first { text(",") }
            first = false
            quoted(pair.element.key)
            text(":")
            quoted(pair.element.value)
        }
        text("},\"capabilities\":")
        out.append(contentsOf: String(a.capabilities).utf8)
        if !a.configMessage.isEmpty {
            text(",\"configMessage\":")
            quoted(a.configMessage)
        }
        text(",\"configState\":")
        optional(a.configState?.rawValue)
        text(a.connected ? ",\"connected\":true" : ",\"connected\":false")
        text(",\"desiredConfigHash\":")
        optional(a.desiredConfigHash)
        text(",\"effectiveConfigHash\":")
        optional(a.effectiveConfigHash)
        text(",\"firstSeen\":\"")
        appendRFC3339(a.firstSeen, to: &out)
        text("\",\"healthy\":")
        switch a.healthy {
        case .some(true): text("true")
        case .some(false): text("false")
        case .none: text("null")
        }
        text(",\"instance\":")
        optional(a.instance)
        text(",\"instanceUid\":")
        quoted(a.instanceUID)
        text(",\"lastSeen\":\"")
        appendRFC3339(a.lastSeen, to: &out)
        let remote = a.remoteConfigStatus ?? (hash: "", status: "UNSET", error: "")
        text("\",\"remoteConfigStatus\":{\"error\":")
        quoted(remote.error)
        text(",\"hash\":")
        quoted(remote.hash)
        text(",\"status\":")
        quoted(remote.status)
        text("}}")
    }

    /// A listing's body: `{"items": [...], "nextCursor": …, "total": N}`.
    static func pageText(_ page: AgentPage) -> Response {
        var out: [UInt8] = []
        out.reserveCapacity(64 + 640 * page.items.count)
        out.append(contentsOf: "{\"items\":[".utf8)
        for (i, item) in page.items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendSummary(item, to: &out)
        }
        out.append(contentsOf: "],\"nextCursor\":".utf8)
        if let cursor = page.nextCursor {
            JSONWriter.appendQuoted(cursor, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: ",\"total\":\(page.total)}\n".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: out)))
    }
}
