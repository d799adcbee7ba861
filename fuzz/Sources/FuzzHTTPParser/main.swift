import GatewayCore

/// Read sizes the comparison cuts the input into; each input gets one of them (chosen by its
/// length), so the run covers them all without paying for all of them on every input; at most 64
/// reads per pass keep a long input cheap.
let chunkSizes = [1, 2, 3, 7, 64]

/// libFuzzer entry: any byte stream must parse without trapping, to the same events whatever the
/// chunking, with buffering inside the limits and no buffer kept between requests.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: data, count: size))
    let chunkSize = max(chunkSizes[size % chunkSizes.count], size / 64)
    for limits in FuzzHTTP.limitSets {
        let whole = FuzzHTTP.parse(bytes, limits: limits, chunkSize: max(size, 1))
        if chunkSize < size, FuzzHTTP.parse(bytes, limits: limits, chunkSize: chunkSize) != whole {
            fatalError("feeding in \(chunkSize)-byte chunks changed the outcome")
        }
    }
    return 0
}

enum FuzzHTTP {
    /// The defaults, and small limits so that every limit is reachable by short inputs.
    static let limitSets = [
        HTTPLimits(),
        HTTPLimits(
            maxRequestLineBytes: 64, maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 512, maxChunkLineBytes: 16
        ),
    ]

    struct Outcome: Equatable {
        var events: [HTTPParseEvent] = []
        var phase = HTTPParserPhase.idle
        var bufferedBytes = 0
    }

    static func parse(_ bytes: RawSpan, limits: HTTPLimits, chunkSize: Int) -> Outcome {
        var parser = HTTPRequestParser(limits: limits)
        var outcome = Outcome()
        var offset = 0
        feeding: while offset < bytes.byteCount {
            let end = min(offset + chunkSize, bytes.byteCount)
            var position = offset
            while position < end {
                let input = bytes.extracting(position..<end)
                let step = parser.feed(input)
                guard step.consumed <= input.byteCount else { fatalError("consumed more than it was given") }
                position += step.consumed
                checkBuffering(parser, limits)
                guard let event = step.event else {
                    if step.consumed != input.byteCount { fatalError("stopped early without an event") }
                    break
                }
                outcome.events.append(event)
                switch event {
                case .request(let request):
                    if step.consumed == 0 { fatalError("a request without consuming input") }
                    check(request, limits)
                case .continueExpected(let head):
                    if !head.expectsContinue || parser.phase != .body { fatalError("continue announced wrongly") }
                case .error(let error):
                    checkFailed(&parser, error)
                    break feeding
                }
            }
            offset = end
        }
        outcome.phase = parser.phase
        outcome.bufferedBytes = parser.bufferedBytes
        return outcome
    }

    static func checkBuffering(_ parser: HTTPRequestParser, _ limits: HTTPLimits) {
        let bound = limits.maxRequestLineBytes + limits.maxHeaderBytes + limits.maxBodyBytes + limits.maxChunkLineBytes
        if parser.bufferedBytes > bound { fatalError("buffered \(parser.bufferedBytes) bytes, over the limits") }
        if parser.isIdle, parser.retainedCapacity != 0 || parser.bufferedBytes != 0 {
            fatalError("an idle parser holds a buffer")
        }
    }

    static func check(_ request: HTTPRequest, _ limits: HTTPLimits) {
        if request.body.count > limits.maxBodyBytes { fatalError("body over the limit") }
        if let length = request.contentLength, length != request.body.count { fatalError("body length mismatch") }
        if request.isChunked, request.contentLength != nil { fatalError("both framings accepted") }
        if request.headers.count > limits.maxHeaderCount { fatalError("too many headers accepted") }
        if request.version == .http11, request.headers.values("Host").count != 1 { fatalError("Host not checked") }
        for (name, value) in request.headers where name.isEmpty || value.utf8.contains(13) || value.utf8.contains(10) {
            fatalError("a field with an empty name or a line break was accepted")
        }
        // The derived facts must be computable for anything accepted.
        _ = (request.acceptsGzip, request.mediaType, request.path, request.contentEncoding)
        _ = (request.opampInstanceUID, request.secWebSocketKey, request.secWebSocketExtensions)
        var response: [UInt8] = []
        HTTPResponse(status: .ok, headers: [("X", request.method)], contentLength: request.body.count)
            .writeHead(into: &response)
    }

    static func checkFailed(_ parser: inout HTTPRequestParser, _ error: HTTPParseError) {
        if parser.phase != .failed || parser.retainedCapacity != 0 { fatalError("a failed parser holds state") }
        let again = parser.feed([UInt8(ascii: "G")].span.bytes)
        if again.consumed != 0 || again.event != .error(error) { fatalError("a failed parser took more input") }
        var response: [UInt8] = []
        error.writeResponse(into: &response)
        if response.isEmpty { fatalError("no error response") }
    }
}
