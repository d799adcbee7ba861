import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Why an `ampora ctl` command failed, and its exit code.
enum CtlFailure: Error, CustomStringConvertible {
    /// The server could not be reached (exit 3).
    case unreachable(String)
    /// The token is missing, unknown, expired or too weak (exit 2).
    case denied(status: Int, message: String)
    /// The server refused the request or failed (exit 1).
    case refused(status: Int, code: String, message: String)
    /// Something the command itself found wrong (exit 1).
    case failed(String)

    var description: String {
        switch self {
        case .unreachable(let why): "cannot reach the server: \(why)"
        case .denied(let status, let message): "\(status): \(message)"
        case .refused(let status, let code, let message): "\(status) \(code): \(message)"
        case .failed(let message): message
        }
    }

    var exitCode: Int32 {
        switch self {
        case .unreachable: 3
        case .denied: 2
        case .refused, .failed: 1
        }
    }
}

/// A small client of the operator API: one request at a time, JSON in and out, and the event
/// stream for `--watch`.
struct APIClient: Sendable {
    let base: URL
    let token: String?

    /// The answer to one request.
    struct Answer: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data

        /// The body as JSON (NSNull when it is empty or not JSON).
        var json: Any {
            (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) ?? NSNull()
        }
    }

    /// Sends one request; a 4xx or 5xx answer becomes a `CtlFailure` carrying the API's message.
    func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        contentType: String = "application/json", headers: [String: String] = [:]
    ) async throws -> Answer {
        var request = URLRequest(url: try url(path, query))
        request.httpMethod = method
        request.timeoutInterval = 120
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw CtlFailure.unreachable("\(base.absoluteString): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else { throw CtlFailure.unreachable("not an HTTP answer") }
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        let answer = Answer(status: http.statusCode, headers: fields, body: data)
        guard answer.status < 400 else { throw Self.failure(answer) }
        return answer
    }

    /// Sends a JSON object.
    func send(_ method: String, _ path: String, json: [String: Any], headers: [String: String] = [:]) async throws
        -> Answer
    {
        let body = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        return try await send(method, path, body: body, headers: headers)
    }

    /// Follows `GET path` as Server-Sent Events, calling `handle(kind, data)` for each event
    /// until it returns false or the stream ends.
    func follow(_ path: String, query: [(String, String)], handle: @escaping @Sendable (String, String) -> Bool)
        async throws
    {
        var request = URLRequest(url: try url(path, query))
        request.timeoutInterval = 3600
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        let reader = EventReader(handle: handle)
        let session = URLSession(configuration: .default, delegate: reader, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        let task = session.dataTask(with: request)
        task.resume()
        let outcome = await reader.finished()
        switch outcome {
        case .stopped, .ended: return
        case .status(let answer): throw Self.failure(answer)
        case .failed(let why): throw CtlFailure.unreachable(why)
        }
    }

    private func url(_ path: String, _ query: [(String, String)]) throws -> URL {
        guard var parts = URLComponents(url: base, resolvingAgainstBaseURL: false) else {
            throw CtlFailure.failed("--server \(base): not a URL")
        }
        parts.path = parts.path.hasSuffix("/") ? String(parts.path.dropLast()) + path : parts.path + path
        if !query.isEmpty { parts.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        guard let url = parts.url else { throw CtlFailure.failed("cannot make a URL of \(path)") }
        return url
    }

    private static func failure(_ answer: Answer) -> CtlFailure {
        let error = (answer.json as? [String: Any])?["error"] as? [String: Any]
        let code = error?["code"] as? String ?? "http_\(answer.status)"
        let message = error?["message"] as? String ?? String(decoding: answer.body.prefix(500), as: UTF8.self)
        if answer.status == 401 || answer.status == 403 {
            return .denied(status: answer.status, message: message)
        }
        return .refused(status: answer.status, code: code, message: message)
    }
}

/// Parses an event stream as URLSession delivers it, in pieces.
private final class EventReader: NSObject, URLSessionDataDelegate, Sendable {
    enum Outcome: Sendable {
        case stopped
        case ended
        case status(APIClient.Answer)
        case failed(String)
    }

    /// The stream read so far: only URLSession's delegate queue touches it, so its lock is
    /// never contended.
    private struct Parse {
        var buffer = Data()
        var kind = ""
        var data = ""
        var status = 200
    }

    /// How the stream ended, and the task waiting to hear it.
    private struct Ending {
        var outcome: Outcome?
        var waiter: CheckedContinuation<Outcome, Never>?
    }

    private let parse = Mutex(Parse())
    private let ending = Mutex(Ending())
    private let handle: @Sendable (String, String) -> Bool

    init(handle: @escaping @Sendable (String, String) -> Bool) {
        self.handle = handle
    }

    func finished() async -> Outcome {
        await withCheckedContinuation { continuation in
            let known = ending.withLock { ending in
                if ending.outcome == nil { ending.waiter = continuation }
                return ending.outcome
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    private func finish(_ result: Outcome) {
        let waiting = ending.withLock { ending -> CheckedContinuation<Outcome, Never>? in
            guard ending.outcome == nil else { return nil }
            ending.outcome = result
            defer { ending.waiter = nil }
            return ending.waiter
        }
        waiting?.resume(returning: result)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        parse.withLock { $0.status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive piece: Data) {
        // Whole events are taken out under the lock and handed on outside it.
        let events = parse.withLock { parse -> [(String, String)] in
            parse.buffer.append(piece)
            if parse.status >= 400 { return [] }
            var events: [(String, String)] = []
            while let newline = parse.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: parse.buffer[parse.buffer.startIndex..<newline], as: UTF8.self)
                parse.buffer.removeSubrange(parse.buffer.startIndex...newline)
                if line.isEmpty {
                    if !parse.kind.isEmpty { events.append((parse.kind, parse.data)) }
                    (parse.kind, parse.data) = ("", "")
                } else if line.hasPrefix("event: ") {
                    parse.kind = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    parse.data += String(line.dropFirst(6))
                }
            }
            return events
        }
        for (kind, data) in events where !handle(kind, data) {
            finish(.stopped)
            dataTask.cancel()
            return
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (status, body) = parse.withLock { ($0.status, $0.buffer) }
        if status >= 400 {
            finish(.status(APIClient.Answer(status: status, headers: [:], body: body)))
        } else if let error {
            finish(.failed(error.localizedDescription))
        } else {
            finish(.ended)
        }
    }
}
