import Core
import Fleet
import Foundation
import Hummingbird
import NIOCore

extension OperatorAPI {
    /// What one subscriber asked for.
    struct EventFilter: Sendable {
        var agent: String?
        var rollout: String?
        var kinds: Set<FleetEventKind>?

        func matches(_ event: FleetEvent) -> Bool {
            if let kinds, !kinds.contains(event.kind) { return false }
            if let agent, event.agent != agent { return false }
            if let rollout, event.rollout?.id != rollout { return false }
            return true
        }
    }

    static let lastEventIDField = HTTPFields.Element.Name("Last-Event-ID")!

    /// `GET /api/v1/events?agent=&rollout=&kind=a,b`: Server-Sent Events from now on, or from
    /// after `Last-Event-ID`. Each subscriber reads the shared ring from its own cursor, so a
    /// slow one holds nothing but its cursor and the socket's buffer; one that falls further
    /// behind than the ring gets a `lost` event saying how many it missed.
    func events(_ request: Request) throws -> Response {
        var filter = EventFilter()
        for (key, value) in request.uri.queryParameters {
            let text = String(value)
            switch String(key) {
            case "agent":
                guard let uid = InstanceUID(string: text)?.description else {
                    throw APIError(.badRequest, "invalid_parameter", "agent must be an agent's UUID")
                }
                filter.agent = uid
            case "rollout":
                guard (1...128).contains(text.count) else {
                    throw APIError(.badRequest, "invalid_parameter", "rollout must be a rollout id")
                }
                filter.rollout = text
            case "kind":
                var kinds = Set<FleetEventKind>()
                for name in text.split(separator: ",") {
                    guard let kind = FleetEventKind(rawValue: String(name)) else {
                        let names = FleetEventKind.allCases.map(\.rawValue).joined(separator: ", ")
                        throw APIError(.badRequest, "invalid_parameter", "kind must be a list of: \(names)")
                    }
                    kinds.insert(kind)
                }
                filter.kinds = kinds
            default:
                throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(key)")
            }
        }
        let stream = fleet.events
        var cursor = stream.latest
        if let given = request.headers[Self.lastEventIDField] {
            guard let id = Int64(given.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw APIError(.badRequest, "invalid_last_event_id", "Last-Event-ID must be an id this stream sent")
            }
            cursor = min(id, stream.latest)
        }
        let chosen = filter
        let start = cursor
        let isReady = isReady
        // A subscriber to one rollout first gets where it is now (a frame without an id, so
        // resuming is not disturbed): nothing that happened before it subscribed is missed.
        var opening = ": ampora events\nretry: 2000\n\n"
        if let id = filter.rollout, request.headers[Self.lastEventIDField] == nil,
            filter.kinds?.contains(.rolloutProgress) ?? true, let rollout = fleet.rollout(id)
        {
            opening += Self.eventFrame(
                FleetEvent(id: 0, at: rollout.updatedAt, kind: .rolloutProgress, rollout: rollout), numbered: false)
        }
        let greeting = opening
        let body = ResponseBody { writer in
            var cursor = start
            var quiet = 0
            var seenReady = isReady()
            var waited = 0
            try await writer.write(ByteBuffer(string: greeting))
            while !Task.isCancelled {
                // The stream ends when the server begins to stop (the gateway goes first), so
                // a graceful shutdown never waits on a subscriber.
                if isReady() { seenReady = true } else if seenReady || waited > 600 { break }
                let (batch, next, lost) = stream.read(after: cursor, limit: 4096, matching: chosen.matches)
                var out = ByteBuffer()
                if lost != 0 {
                    let data = lost > 0 ? "{\"lost\":\(lost)}" : "{\"lost\":null,\"reason\":\"the server restarted\"}"
                    out.writeString("event: lost\ndata: \(data)\n\n")
                }
                let behind = next - cursor >= 4096
                cursor = next
                for (event, cached) in batch {
                    if let cached {
                        out.writeBytes(cached)
                    } else {
                        let frame = Array(Self.eventFrame(event).utf8)
                        stream.remember(frame: frame, for: event.id)
                        out.writeBytes(frame)
                    }
                }
                if out.readableBytes > 0 {
                    try await writer.write(out)
                    quiet = 0
                }
                if !behind {
                    try await Task.sleep(for: .milliseconds(100))
                    waited += 1
                    quiet += 1
                    // A comment now and then: proxies and the idle timeout see a live stream,
                    // and a gone client is noticed.
                    if quiet >= 150 {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        quiet = 0
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", Self.bufferingField: "no"],
            body: body)
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String { JSONWriter.quoted(text) }

    /// Tells nginx-style proxies not to hold the stream back.
    static let bufferingField = HTTPFields.Element.Name("X-Accel-Buffering")!

    /// One event as an SSE frame: `id` (unless not `numbered`), `event` (its kind) and one line
    /// of JSON.
    static func eventFrame(_ event: FleetEvent, numbered: Bool = true) -> String {
        // Agent events have one fixed shape and are the many: written directly, with the
        // detail escaped as JSON. The same keys, sorted, as the general path below.
        if numbered, let agent = event.agent, event.rollout == nil {
            let data =
                "{\"agent\":\"\(agent)\",\"detail\":\(jsonString(event.detail)),\"id\":\"\(event.id)\","
                + "\"kind\":\"\(event.kind.rawValue)\",\"time\":\"\(rfc3339(event.at))\"}"
            return "id: \(event.id)\nevent: \(event.kind.rawValue)\ndata: \(data)\n\n"
        }
        var data: [String: Any] = ["time": rfc3339(event.at), "kind": event.kind.rawValue]
        if numbered { data["id"] = String(event.id) }
        if let agent = event.agent {
            data["agent"] = agent
            data["detail"] = event.detail
        }
        if let rollout = event.rollout { data["rollout"] = rolloutJSON(rollout) }
        let json =
            (try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys, .withoutEscapingSlashes]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return (numbered ? "id: \(event.id)\n" : "") + "event: \(event.kind.rawValue)\ndata: \(json)\n\n"
    }
}
