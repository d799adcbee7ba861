/// Incremental RFC 6455 frame parser for the server side: fed arbitrary chunks of client
/// bytes, it yields whole messages and control frames, or one protocol error.
///
/// It holds only the current frame header (inline) and the message being assembled, never
/// more than `maxMessageSize`; once a message is handed out and no frame is open it owns no
/// heap memory, so an idle connection costs only this struct.
public struct WebSocketFrameParser: Sendable {
    /// Limits and negotiated extensions, fixed for the connection's life.
    public struct Configuration: Sendable, Equatable {
        /// Largest message accepted across all fragments (before and after inflation); larger
        /// ones end the connection with 1009.
        public var maxMessageSize: Int
        /// Whether permessage-deflate was negotiated, which makes RSV1 legal on the first
        /// frame of a data message.
        public var permessageDeflate: Bool

        /// The OpAMP recommendation is 64 MiB (spec W4).
        public init(maxMessageSize: Int = 64 << 20, permessageDeflate: Bool = false) {
            self.maxMessageSize = max(0, maxMessageSize)
            self.permessageDeflate = permessageDeflate
        }
    }

    enum Phase: UInt8, Sendable {
        case header
        case payload
        case closed
        case failed
    }

    /// The limits this parser enforces.
    public let configuration: Configuration
    var phase = Phase.header
    // The header is at most 14 bytes (2 + 8 length + 4 mask): kept inline, never on the heap.
    var headerBytes = InlineArray<14, UInt8>(repeating: 0)
    var headerCount = 0
    var headerNeeded = 2
    var opcode = WebSocketOpcode.continuation
    var fin = false
    var maskKey: UInt32 = 0
    var frameRemaining = 0
    var frameOffset = 0
    /// Kind of the data message in progress (text or binary), nil between messages.
    var messageKind: WebSocketOpcode?
    var messageCompressed = false
    var message: [UInt8] = []
    var control: [UInt8] = []

    /// A parser for a freshly upgraded connection.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// True after a close frame or a protocol error: later input is refused, not parsed.
    public var isTerminated: Bool { phase == .closed || phase == .failed }

    /// True between frames with no fragmented message open: the parser holds no state.
    public var isIdle: Bool { phase == .header && headerCount == 0 && messageKind == nil }

    /// Heap bytes the parser holds right now, for memory accounting and tests.
    public var bufferedCapacity: Int { message.capacity + control.capacity }

    /// Parses `input` from `offset` until one event is ready or the input is used up, and
    /// advances `offset` past what it consumed. Returns nil only when all input is consumed or
    /// the parser is terminated (then `offset` stays where the refused bytes start).
    /// A compressed message needs `inflater` (one per event loop is enough).
    public mutating func nextEvent(
        in input: RawSpan, from offset: inout Int, inflater: WebSocketInflater? = nil
    ) -> WebSocketEvent? {
        switch advance(input, inPlace: false, &offset, inflater) {
        case nil: return nil
        case .event(let event): return event
        case .inPlace: preconditionFailure("an in-place completion on the copying path")
        }
    }

    /// Like `nextEvent(in:from:inflater:)`, but unmasks in place: a single-frame message lying
    /// wholly inside `input` is lent out as a borrowed view instead of being copied, which is
    /// the steady-state path for small OpAMP messages. Everything else is owned as usual.
    @_lifetime(&input)
    public mutating func nextEvent(
        unmaskingInPlace input: inout MutableRawSpan, from offset: inout Int,
        inflater: WebSocketInflater? = nil
    ) -> WebSocketBorrowedEvent? {
        switch advance(input.bytes, inPlace: true, &offset, inflater) {
        case nil: return nil
        case .event(let event): return .event(event)
        case .inPlace(let range, let kind, let compressed):
            var payload = input._mutatingExtracting(range)
            WebSocketMask.apply(key: maskKey, phase: 0, to: &payload)
            if compressed {
                switch inflate(kind, input.bytes.extracting(range), inflater) {
                case .event(let event): return .event(event)
                case .inPlace: preconditionFailure("an inflated message is owned, never lent in place")
                }
            }
            return WebSocketBorrowedEvent(lent: input.bytes.extracting(range), text: kind == .text)
        }
    }

    /// Feeds a whole chunk and reports each event in order; convenient when the handler does
    /// not need to touch the parser's owner.
    public mutating func feed(
        _ input: RawSpan, inflater: WebSocketInflater? = nil, _ onEvent: (WebSocketEvent) -> Void
    ) {
        var offset = 0
        while let event = nextEvent(in: input, from: &offset, inflater: inflater) { onEvent(event) }
    }

    /// The core loop shared by the copying and in-place entry points; only the in-place one
    /// (`inPlace`) gets `.inPlace` frames back.
    mutating func advance(
        _ input: RawSpan, inPlace: Bool, _ offset: inout Int, _ inflater: WebSocketInflater?
    ) -> ParsedFrame? {
        while offset < input.byteCount {
            switch phase {
            case .closed, .failed:
                return nil
            case .header:
                if let event = readHeader(input, inPlace: inPlace, &offset, inflater) { return event }
            case .payload:
                let n = min(frameRemaining, input.byteCount - offset)
                let chunk = input.extracting(offset..<offset + n)
                if opcode.isControl {
                    Self.appendUnmasked(chunk, key: maskKey, phase: frameOffset & 3, to: &control)
                } else {
                    reserveForMessage(adding: n)
                    Self.appendUnmasked(chunk, key: maskKey, phase: frameOffset & 3, to: &message)
                }
                offset += n
                frameOffset += n
                frameRemaining -= n
                if frameRemaining == 0, let event = completeFrame(inflater) { return event }
            }
        }
        return nil
    }

    /// Appends masked bytes to `buffer` and unmasks them there, so each byte is copied once.
    static func appendUnmasked(_ chunk: RawSpan, key: UInt32, phase: Int, to buffer: inout [UInt8]) {
        guard !chunk.isEmpty else { return }
        let start = buffer.count
        chunk.append(to: &buffer)
        var elements = buffer.mutableSpan
        var bytes = elements.mutableBytes
        WebSocketMask.apply(key: key, phase: phase, to: &bytes, from: start)
    }

    /// Grows the message buffer only as bytes arrive: a header announcing 64 MiB costs nothing
    /// until the bytes come, a small message gets one exact allocation, a large one doubles.
    mutating func reserveForMessage(adding n: Int) {
        let needed = message.count + n
        guard needed > message.capacity else { return }
        let announced = message.count + frameRemaining
        let grown = message.capacity == 0 ? max(needed, 64 << 10) : max(needed, message.capacity * 2)
        message.reserveCapacity(min(grown, announced))
    }

    /// Ends parsing with a protocol error and drops any buffered bytes.
    mutating func fail(_ code: WebSocketCloseCode, _ reason: String) -> ParsedFrame {
        phase = .failed
        message = []
        control = []
        messageKind = nil
        return .event(.protocolError(code: code, reason: reason))
    }
}
