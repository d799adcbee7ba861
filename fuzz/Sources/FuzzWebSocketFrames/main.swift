import GatewayCore

/// One inflater for the whole run, as an event loop would hold; libFuzzer calls us serially.
nonisolated(unsafe) let inflater = WebSocketInflater()

/// The two parser configurations, built once: the defaults, and a small limit with compression.
let configurations = [
    WebSocketFrameParser.Configuration(),
    WebSocketFrameParser.Configuration(maxMessageSize: 300, permessageDeflate: true),
]

/// Read sizes the comparisons cut the input into; each input gets one of them (chosen by its
/// length), so the run covers them all without paying for all of them on every input. Each read
/// is a copy of its own, so that AddressSanitizer sees a read past its end; at most 64 reads per
/// pass keep a long input from costing thousands of allocations.
let chunkSizes = [1, 2, 3, 7, 64]

/// The read size for an input of `size` bytes.
func chunkSize(for size: Int) -> Int { max(chunkSizes[size % chunkSizes.count], size / 64) }

/// libFuzzer entry: any byte string must parse to the same events however it is chunked,
/// copied or unmasked in place, never trap, and leave no buffer behind once idle or finished.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let chunk = chunkSize(for: size)
    for configuration in configurations {
        let whole = FuzzFrames.events(bytes, chunk: max(1, size), configuration)
        if chunk < size, FuzzFrames.events(bytes, chunk: chunk, configuration) != whole {
            fatalError("chunk size \(chunk) changed the events")
        }
        let inPlace = size % 3 == 0 ? max(1, size) : chunk
        if FuzzFrames.eventsInPlace(bytes, chunk: inPlace, configuration) != whole {
            fatalError("in-place parsing in chunks of \(inPlace) changed the events")
        }
    }
    return 0
}

enum FuzzFrames {
    static func events(_ bytes: [UInt8], chunk: Int, _ configuration: WebSocketFrameParser.Configuration)
        -> [WebSocketEvent]
    {
        var parser = WebSocketFrameParser(configuration: configuration)
        var events: [WebSocketEvent] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            let piece = Array(bytes[start..<end])
            let input = piece.span.bytes
            var offset = 0
            while let event = parser.nextEvent(in: input, from: &offset, inflater: inflater) {
                events.append(event)
            }
            if offset != input.byteCount && !parser.isTerminated { fatalError("input left unconsumed") }
            checkBuffers(parser)
            start = end
        }
        return events
    }

    static func eventsInPlace(_ bytes: [UInt8], chunk: Int, _ configuration: WebSocketFrameParser.Configuration)
        -> [WebSocketEvent]
    {
        var parser = WebSocketFrameParser(configuration: configuration)
        var events: [WebSocketEvent] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            var piece = Array(bytes[start..<end])
            var elements = piece.mutableSpan
            var input = elements.mutableBytes
            var offset = 0
            while let event = parser.nextEvent(unmaskingInPlace: &input, from: &offset, inflater: inflater) {
                events.append(event.owned)
            }
            checkBuffers(parser)
            start = end
        }
        return events
    }

    /// An idle or finished connection must own no heap buffer.
    static func checkBuffers(_ parser: WebSocketFrameParser) {
        if (parser.isIdle || parser.isTerminated) && parser.bufferedCapacity != 0 {
            fatalError("parser kept \(parser.bufferedCapacity) bytes while idle")
        }
        if parser.bufferedCapacity > parser.configuration.maxMessageSize * 2 + 1024 {
            fatalError("parser buffered past the message limit")
        }
    }
}
