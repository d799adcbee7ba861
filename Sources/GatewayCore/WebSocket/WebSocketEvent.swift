/// What the frame parser reports; every payload is owned and unmasked.
///
/// A message's bytes are built once in the parser and moved out, so the array is uniquely
/// referenced when it arrives and nothing copies it again.
public enum WebSocketEvent: Sendable, Equatable {
    /// A complete binary message, reassembled from its fragments (and inflated if compressed).
    case binary([UInt8])
    /// A complete text message; its UTF-8 is not checked because OpAMP refuses text anyway.
    case text([UInt8])
    /// A ping the server should answer with a pong carrying the same payload.
    case ping([UInt8])
    /// A pong, solicited or not.
    case pong([UInt8])
    /// The peer's close frame; `code` is nil when the frame had no payload. The parser takes
    /// nothing more after it.
    case close(code: WebSocketCloseCode?, reason: String)
    /// The peer broke the protocol: send a close with `code` and drop the connection. The
    /// parser takes nothing more after it.
    case protocolError(code: WebSocketCloseCode, reason: String)
}

/// An event from in-place parsing: a single-frame message that arrived whole inside the
/// caller's buffer is unmasked where it lies and lent out, not copied.
///
/// Non-escapable: the event lives only as long as the borrow of the input buffer it came from,
/// so the compiler rejects keeping a lent payload past the next receive into that buffer.
public enum WebSocketBorrowedEvent: ~Escapable {
    /// Anything that had to be buffered, inflated or is not a data message.
    case event(WebSocketEvent)
    /// A binary message lent from the caller's input buffer.
    case binary(RawSpan)
    /// A text message lent from the caller's input buffer.
    case text(RawSpan)

    /// A message lent from the caller's input buffer.
    @_lifetime(copy payload)
    init(lent payload: RawSpan, text: Bool) {
        self = text ? .text(payload) : .binary(payload)
    }

    /// The same event with its payload copied out, for callers that must keep it.
    public var owned: WebSocketEvent {
        switch self {
        case .event(let event): return event
        case .binary(let bytes): return .binary(bytes.byteArray)
        case .text(let bytes): return .text(bytes.byteArray)
        }
    }
}

/// What the parser's steps produce inside the parser: an event, or the range of the input
/// that a single-frame message was unmasked in. Never leaves the parser; the public entry
/// points turn it into an owned `WebSocketEvent` or a `WebSocketBorrowedEvent` whose lifetime
/// the compiler checks.
enum ParsedFrame {
    /// An owned event.
    case event(WebSocketEvent)
    /// A single-frame message whose payload lies whole at `range` of the input, still masked:
    /// the in-place entry unmasks it there and lends it out (or inflates it when `compressed`).
    case inPlace(Range<Int>, kind: WebSocketOpcode, compressed: Bool)
}
