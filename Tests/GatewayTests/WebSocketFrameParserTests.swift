import Testing

@testable import Gateway
@testable import GatewayCore

/// How a test frame spells its payload length; RFC 6455 tolerates the longer forms.
enum LengthForm {
    case minimal
    case sixteen
    case sixtyFour
}

/// A client frame as the wire carries it: masked unless `mask` is nil.
func clientFrame(
    _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, mask: [UInt8]? = [0x37, 0xFA, 0x21, 0x3D],
    length: LengthForm = .minimal
) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
    let maskBit: UInt8 = mask == nil ? 0 : 0x80
    let form: LengthForm =
        length != .minimal ? length : payload.count <= 125 ? .minimal : payload.count <= 0xFFFF ? .sixteen : .sixtyFour
    switch form {
    case .minimal:
        out.append(maskBit | UInt8(payload.count))
    case .sixteen:
        out.append(maskBit | 126)
        out += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    case .sixtyFour:
        out.append(maskBit | 127)
        for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64(i)))) }
    }
    guard let mask else { return out + payload }
    out += mask
    for (i, b) in payload.enumerated() { out.append(b ^ mask[i & 3]) }
    return out
}

/// Parses `bytes` in chunks of `chunk` (whole when nil) through the copying API.
func parseEvents(
    _ bytes: [UInt8], chunk: Int? = nil, configuration: WebSocketFrameParser.Configuration = .init(),
    inflater: WebSocketInflater? = nil
) -> [WebSocketEvent] {
    var parser = WebSocketFrameParser(configuration: configuration)
    return parseEvents(bytes, with: &parser, chunk: chunk, inflater: inflater)
}

func parseEvents(
    _ bytes: [UInt8], with parser: inout WebSocketFrameParser, chunk: Int? = nil, inflater: WebSocketInflater? = nil
) -> [WebSocketEvent] {
    var events: [WebSocketEvent] = []
    let size = max(1, chunk ?? bytes.count)
    var start = 0
    repeat {
        let end = min(bytes.count, start + size)
        parser.feed(Array(bytes[start..<end]).span.bytes, inflater: inflater) { events.append($0) }
        start = end
    } while start < bytes.count
    return events
}

/// Parses through the in-place API, each chunk in its own mutable buffer.
func parseEventsInPlace(
    _ bytes: [UInt8], splits: [Int], configuration: WebSocketFrameParser.Configuration = .init(),
    inflater: WebSocketInflater? = nil
) -> (events: [WebSocketEvent], borrowed: Int) {
    var parser = WebSocketFrameParser(configuration: configuration)
    var events: [WebSocketEvent] = []
    var borrowed = 0
    var start = 0
    for end in splits + [bytes.count] where end >= start {
        var chunk = Array(bytes[start..<end])
        chunk.lendingBytes { buffer in
            var offset = 0
            while let event = parser.nextEvent(unmaskingInPlace: &buffer, from: &offset, inflater: inflater) {
                if case .event = event {} else { borrowed += 1 }
                events.append(event.owned)
            }
        }
        start = end
    }
    return (events, borrowed)
}

@Suite struct WebSocketFrameParserTests {
    @Test func singleFrameMessages() {
        #expect(parseEvents(clientFrame(0x2, [1, 2, 3])) == [.binary([1, 2, 3])])
        #expect(parseEvents(clientFrame(0x1, Array("hi".utf8))) == [.text(Array("hi".utf8))])
        #expect(parseEvents(clientFrame(0x2, [])) == [.binary([])])
        #expect(parseEvents(clientFrame(0x9, [7])) == [.ping([7])])
        #expect(parseEvents(clientFrame(0xA, [])) == [.pong([])])
    }

    @Test(arguments: [0, 1, 7, 8, 9, 125, 126, 127, 1000, 65535, 65536, 70001])
    func lengthsAndUnmaskingAtEverySize(_ count: Int) {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        #expect(parseEvents(clientFrame(0x2, payload)) == [.binary(payload)])
        #expect(parseEvents(clientFrame(0x2, payload), chunk: 5) == [.binary(payload)])
    }

    @Test func nonMinimalLengthEncodingsAreAccepted() {
        #expect(parseEvents(clientFrame(0x2, [9, 9], length: .sixteen)) == [.binary([9, 9])])
        #expect(parseEvents(clientFrame(0x2, [9, 9], length: .sixtyFour)) == [.binary([9, 9])])
        #expect(parseEvents(clientFrame(0x9, [1], length: .sixteen)).first?.isProtocolError == true)
    }

    @Test func unmaskedClientFrameIs1002() {
        #expect(
            parseEvents(clientFrame(0x2, [1], mask: nil)) == [
                .protocolError(code: .protocolError, reason: "unmasked client frame")
            ])
    }

    @Test(arguments: [1, 2, 4, 3, 7] as [UInt8])
    func reservedBitsWithoutExtensionAre1002(_ rsv: UInt8) {
        #expect(parseEvents(clientFrame(0x2, [1], rsv: rsv)).first?.closeCode == .protocolError)
    }

    @Test func rsv1IsLegalOnlyOnFirstDataFrameWhenDeflateNegotiated() {
        let deflate = WebSocketFrameParser.Configuration(permessageDeflate: true)
        #expect(parseEvents(clientFrame(0x2, [1], rsv: 2), configuration: deflate).first?.closeCode == .protocolError)
        #expect(parseEvents(clientFrame(0x9, [], rsv: 4), configuration: deflate).first?.closeCode == .protocolError)
        let continuation = clientFrame(0x2, [], fin: false) + clientFrame(0x0, [], rsv: 4)
        #expect(parseEvents(continuation, configuration: deflate).first?.closeCode == .protocolError)
    }

    @Test(arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func unknownOpcodesAre1002(_ opcode: UInt8) {
        #expect(
            parseEvents(clientFrame(opcode, [])) == [
                .protocolError(code: .protocolError, reason: "unknown opcode \(opcode)")
            ])
    }

    @Test(arguments: [0x8, 0x9, 0xA] as [UInt8])
    func controlFramesMustBeFinalAndShort(_ opcode: UInt8) {
        #expect(parseEvents(clientFrame(opcode, [], fin: false)).first?.closeCode == .protocolError)
        #expect(parseEvents(clientFrame(opcode, Array(repeating: 0, count: 126))).first?.closeCode == .protocolError)
        let ok = parseEvents(clientFrame(opcode, Array(repeating: 0, count: opcode == 0x8 ? 0 : 125)))
        #expect(ok.first?.isProtocolError == false)
    }

    @Test func sixtyFourBitLengthWithTopBitIs1002() {
        let frame: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
        #expect(parseEvents(frame).first?.closeCode == .protocolError)
    }

    @Test func fragmentedMessageWithInterleavedControlFrames() {
        let bytes =
            clientFrame(0x1, Array("frag".utf8), fin: false, mask: [1, 2, 3, 4])
            + clientFrame(0x9, [0xAA], mask: [9, 8, 7, 6])
            + clientFrame(0x0, Array("men".utf8), fin: false, mask: [5, 6, 7, 8])
            + clientFrame(0xA, [], mask: [0, 0, 0, 0])
            + clientFrame(0x0, Array("ted".utf8), mask: [0xFF, 0xEE, 0xDD, 0xCC])
        let expected: [WebSocketEvent] = [.ping([0xAA]), .pong([]), .text(Array("fragmented".utf8))]
        #expect(parseEvents(bytes) == expected)
        #expect(parseEvents(bytes, chunk: 1) == expected)
    }

    @Test func emptyFragmentsAreFine() {
        let bytes = clientFrame(0x2, [], fin: false) + clientFrame(0x0, [], fin: false) + clientFrame(0x0, [5])
        #expect(parseEvents(bytes) == [.binary([5])])
    }

    @Test func newDataFrameInsideFragmentedMessageIs1002() {
        let bytes = clientFrame(0x2, [1], fin: false) + clientFrame(0x2, [2])
        #expect(
            parseEvents(bytes) == [
                .protocolError(code: .protocolError, reason: "new data frame while a fragmented message is open")
            ])
    }

    @Test func continuationWithoutMessageIs1002() {
        #expect(parseEvents(clientFrame(0x0, [1])).first?.closeCode == .protocolError)
        // Also after a message has completed.
        #expect(parseEvents(clientFrame(0x2, [1]) + clientFrame(0x0, [1])).last?.closeCode == .protocolError)
    }

    @Test func byteAtATimeEqualsWhole() {
        let bytes =
            clientFrame(0x2, Array(0..<200), fin: false) + clientFrame(0x9, [1, 2]) + clientFrame(0x0, Array(0..<70))
            + clientFrame(0x1, Array("x".utf8), length: .sixtyFour)
            + clientFrame(0x8, [0x03, 0xE8] + Array("bye".utf8))
        let whole = parseEvents(bytes)
        #expect(whole.count == 4)
        #expect(parseEvents(bytes, chunk: 1) == whole)
        #expect(parseEvents(bytes, chunk: 3) == whole)
    }

    @Test func oversizeIsDecidedFromTheHeaderBeforeBuffering() {
        var parser = WebSocketFrameParser(configuration: .init(maxMessageSize: 1000))
        // Header only: announces 1001 bytes, no payload has arrived.
        let header = Array(clientFrame(0x2, Array(repeating: 0, count: 1001)).prefix(8))
        let events = parseEvents(header, with: &parser)
        #expect(events == [.protocolError(code: .messageTooBig, reason: "message exceeds 1000 bytes")])
        #expect(parser.bufferedCapacity == 0)
        #expect(parser.isTerminated)
        // Exactly the limit is fine.
        let atLimit = Array(repeating: UInt8(1), count: 1000)
        #expect(
            parseEvents(clientFrame(0x2, atLimit), configuration: .init(maxMessageSize: 1000)) == [.binary(atLimit)])
    }

    @Test func oversizeCountsEveryFragment() {
        var parser = WebSocketFrameParser(configuration: .init(maxMessageSize: 100))
        let first = parseEvents(clientFrame(0x2, Array(repeating: 0, count: 60), fin: false), with: &parser)
        #expect(first.isEmpty)
        let second = Array(clientFrame(0x0, Array(repeating: 0, count: 41)).prefix(6))
        #expect(parseEvents(second, with: &parser).first?.closeCode == .messageTooBig)
        #expect(parser.bufferedCapacity == 0)
    }

    @Test func aHugeAnnouncedFrameIsNotAllocatedUpFront() {
        var parser = WebSocketFrameParser()
        // 10 MiB announced with a 64-bit length, then only 100 payload bytes.
        let header: [UInt8] = [0x82, 0xFF, 0, 0, 0, 0, 0, 0xA0, 0, 0, 1, 2, 3, 4]
        #expect(parseEvents(header + Array(repeating: 0, count: 100), with: &parser).isEmpty)
        #expect(parser.bufferedCapacity < 128 << 10)
    }

    @Test func bufferIsReleasedAfterAMessage() {
        var parser = WebSocketFrameParser()
        #expect(parser.isIdle && parser.bufferedCapacity == 0)
        _ = parseEvents(clientFrame(0x2, Array(repeating: 1, count: 300), fin: false), with: &parser)
        #expect(parser.bufferedCapacity >= 300)
        #expect(!parser.isIdle)
        _ = parseEvents(clientFrame(0x9, [1, 2, 3]), with: &parser)
        let events = parseEvents(clientFrame(0x0, Array(repeating: 2, count: 300)), with: &parser)
        #expect(events == [.binary(Array(repeating: 1, count: 300) + Array(repeating: 2, count: 300))])
        #expect(parser.bufferedCapacity == 0)
        #expect(parser.isIdle)
        // A partial header is held inline, not on the heap.
        _ = parseEvents(Array(clientFrame(0x2, [1, 2, 3]).prefix(3)), with: &parser)
        #expect(parser.bufferedCapacity == 0)
        #expect(!parser.isIdle)
    }

    @Test func terminatedParserRefusesInput() {
        var parser = WebSocketFrameParser()
        _ = parseEvents(clientFrame(0x2, [1], mask: nil), with: &parser)
        #expect(parser.isTerminated)
        let more = clientFrame(0x2, [1])
        var offset = 0
        #expect(parser.nextEvent(in: more.span.bytes, from: &offset) == nil)
        #expect(offset == 0)
    }

    @Test func nothingIsParsedAfterClose() {
        let bytes = clientFrame(0x8, [0x03, 0xE8]) + clientFrame(0x2, [1]) + [0xFF, 0xFF]
        #expect(parseEvents(bytes) == [.close(code: .normal, reason: "")])
    }

    @Test func inPlaceLendsSingleFrameMessagesAndMatchesCopying() {
        let bytes =
            clientFrame(0x2, Array(0..<50)) + clientFrame(0x9, [4]) + clientFrame(0x1, Array("ok".utf8))
            + clientFrame(0x2, [1], fin: false) + clientFrame(0x0, [2])
        let (events, borrowed) = parseEventsInPlace(bytes, splits: [])
        #expect(events == parseEvents(bytes))
        #expect(borrowed == 2)
        // A message split across chunks falls back to buffering.
        let split = parseEventsInPlace(bytes, splits: [10])
        #expect(split.events == events)
        #expect(split.borrowed == 1)
    }

    @Test func inPlaceUnmasksTheCallersBuffer() {
        var bytes = clientFrame(0x2, [10, 20, 30, 40, 50])
        var parser = WebSocketFrameParser()
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            var span = MutableRawSpan(_unsafeBytes: buffer)
            guard case .binary(let view) = parser.nextEvent(unmaskingInPlace: &span, from: &offset) else {
                Issue.record("expected a borrowed binary message")
                return
            }
            let (lent, address) = view.withUnsafeBytes { (Array($0), $0.baseAddress) }
            #expect(lent == [10, 20, 30, 40, 50])
            #expect(address == UnsafeRawPointer(buffer.baseAddress! + 6))
            #expect(offset == buffer.count)
        }
    }
}

extension WebSocketEvent {
    var closeCode: WebSocketCloseCode? {
        switch self {
        case .protocolError(let code, _): return code
        case .close(let code, _): return code
        default: return nil
        }
    }

    var isProtocolError: Bool {
        if case .protocolError = self { return true }
        return false
    }
}
