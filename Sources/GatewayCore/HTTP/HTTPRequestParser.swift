import Core

/// Incremental HTTP/1.1 request parser: pure (no I/O), fed bytes in any chunking, yielding requests in order.
///
/// Call `feed` with what arrived; it consumes up to the next event and says how much it took, so
/// pipelined requests come one per call and bytes after a WebSocket upgrade stay with the caller.
/// Feeding one byte at a time gives the same events as feeding everything at once.
///
/// Only CRLF ends a line (a bare LF or CR is refused, closing a smuggling door). Empty lines before
/// a request line are skipped, as RFC 9112 §2.2 recommends. Memory is bounded by `HTTPLimits`
/// (a body only grows as its bytes arrive), and between requests the parser holds no buffer at all.
public struct HTTPRequestParser: Sendable {
    enum State: Sendable {
        case idle
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    /// The limits this parser enforces.
    public let limits: HTTPLimits
    var state = State.idle
    /// The head's lines so far (without line endings); later the current chunk-size or trailer line.
    var buffer: [UInt8] = []
    var lineStart = 0
    /// The last input byte was the CR of a CRLF, so the next one must be LF.
    var sawCR = false
    var method = ""
    var target = ""
    var version = HTTPVersion.http11
    var fields: [HTTPHeaders.Field] = []
    /// Header and trailer bytes so far, each line counted with a two-byte ending.
    var fieldBytes = 0
    var fieldCount = 0
    /// The head of the request whose body is being read.
    var pendingHead: HTTPRequestHead?
    var body: [UInt8] = []

    /// A parser waiting for its first request.
    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// Where the parser stands, for choosing the idle, header or body timeout.
    public var phase: HTTPParserPhase {
        switch state {
        case .idle: .idle
        case .requestLine, .headers: .head
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers: .body
        case .failed: .failed
        }
    }

    /// The Content-Length of the request whose body is being read (nil: none yet, or chunked).
    public var declaredBodyBytes: Int? {
        guard let head = pendingHead, !head.isChunked else { return nil }
        return head.contentLength
    }

    /// Whether the parser is between requests; then it holds no buffer.
    public var isIdle: Bool { phase == .idle }

    /// Bytes of the request in progress held by the parser (head, partial line and body so far).
    public var bufferedBytes: Int { buffer.count + body.count + (pendingHead?.headers.storage.count ?? 0) }

    /// Heap bytes the parser keeps reserved; zero whenever it is idle or failed.
    public var retainedCapacity: Int {
        buffer.capacity + body.capacity + fields.capacity * MemoryLayout<HTTPHeaders.Field>.stride
            + (pendingHead?.headers.storage.capacity ?? 0)
    }

    /// Consumes `bytes` up to the next event (or all of them) and reports how far it got.
    ///
    /// After an `.error` every call returns the same error and consumes nothing.
    public mutating func feed(_ bytes: RawSpan) -> HTTPParseStep {
        if case .failed(let error) = state { return HTTPParseStep(consumed: 0, event: .error(error)) }
        var index = 0
        while index < bytes.byteCount {
            var event: HTTPParseEvent?
            switch state {
            case .idle, .requestLine, .headers, .chunkSize, .trailers:
                if case .idle = state { state = .requestLine }
                switch readLine(bytes, &index) {
                case .partial: continue
                case .complete: event = completeLine()
                case .failed(let error): event = fail(error)
                }
            case .body(let remaining):
                let taken = takeBody(bytes, &index, remaining)
                if taken == remaining {
                    event = completeRequest()
                } else {
                    state = .body(remaining: remaining - taken)
                }
            case .chunkData(let remaining):
                let taken = takeBody(bytes, &index, remaining)
                state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
            case .chunkDataEnd:
                event = readChunkDataEnd(bytes.byte(index))
                index += 1
            case .failed(let error):
                event = .error(error)
            }
            if let event { return HTTPParseStep(consumed: index, event: event) }
        }
        return HTTPParseStep(consumed: index, event: nil)
    }

    /// Appends up to `remaining` body bytes from the input, returning how many.
    private mutating func takeBody(_ bytes: RawSpan, _ index: inout Int, _ remaining: Int) -> Int {
        let taken = min(remaining, bytes.byteCount - index)
        bytes.extracting(index..<(index + taken)).append(to: &body)
        index += taken
        return taken
    }

    /// The CRLF after chunk data; anything else means the sender's framing disagrees with ours.
    private mutating func readChunkDataEnd(_ byte: UInt8) -> HTTPParseEvent? {
        if !sawCR {
            guard byte == HTTPSyntax.cr else { return fail(.invalidChunkTerminator) }
            sawCR = true
        } else {
            guard byte == HTTPSyntax.lf else { return fail(.invalidChunkTerminator) }
            sawCR = false
            state = .chunkSize
        }
        return nil
    }

    /// Hands out the finished request and drops every buffer, so an idle connection owns none.
    mutating func completeRequest() -> HTTPParseEvent {
        let request = HTTPRequest(head: pendingHead!, body: body)
        resetForNextRequest()
        return .request(request)
    }

    mutating func resetForNextRequest() {
        state = .idle
        buffer = []
        lineStart = 0
        sawCR = false
        method = ""
        target = ""
        fields = []
        fieldBytes = 0
        fieldCount = 0
        pendingHead = nil
        body = []
    }

    /// Enters the terminal state, releasing what the broken request held.
    mutating func fail(_ error: HTTPParseError) -> HTTPParseEvent {
        resetForNextRequest()
        state = .failed(error)
        return .error(error)
    }
}
