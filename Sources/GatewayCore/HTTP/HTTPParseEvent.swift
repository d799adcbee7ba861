/// What one call to `HTTPRequestParser.feed` produced.
public enum HTTPParseEvent: Sendable, Equatable {
    /// A whole request; the bytes after it (a pipelined request, or WebSocket frames after an
    /// upgrade) were not consumed.
    case request(HTTPRequest)
    /// The head of a request sent with `Expect: 100-continue` and a body still to come: answer
    /// `100 Continue` (or refuse) and keep feeding; the request follows as its own event.
    case continueExpected(HTTPRequestHead)
    /// The request is refused: answer `error.status` and close. The parser refuses further input.
    case error(HTTPParseError)
}

/// The result of feeding bytes: how many were consumed, and the event that stopped consumption.
public struct HTTPParseStep: Sendable, Equatable {
    /// Bytes consumed from the front of the input; all of it when `event` is nil.
    public let consumed: Int
    /// The event reached, or nil when the input ran out first.
    public let event: HTTPParseEvent?
}

/// Where the parser stands, so the engine can pick a timeout: idle, header or body.
public enum HTTPParserPhase: Sendable, Hashable {
    /// Between requests, holding no buffer.
    case idle
    /// Reading a request line or header section.
    case head
    /// Reading a body, its chunk framing or its trailers.
    case body
    /// An error was returned; the connection must close.
    case failed
}
