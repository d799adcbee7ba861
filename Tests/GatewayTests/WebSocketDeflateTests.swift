import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct WebSocketDeflateTests {
    static let deflate = WebSocketFrameParser.Configuration(permessageDeflate: true)

    @Test func rfc7692HelloExampleInflates() throws {
        let inflater = try #require(WebSocketInflater())
        let compressed: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
        let result = inflater.inflate(compressed.span.bytes, limit: 100)
        #expect(try result.get() == Array("Hello".utf8))
    }

    @Test(arguments: [0, 1, 5, 1000, 100_000])
    func deflaterRoundTripsThroughInflater(_ count: Int) throws {
        let deflater = try #require(WebSocketDeflater())
        let inflater = try #require(WebSocketInflater())
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 % 251 &* ($0 / 1000 + 1)) }
        let compressed = deflater.deflate(payload.span.bytes)
        #expect(compressed.suffix(4) != [0x00, 0x00, 0xFF, 0xFF] || compressed.count < 4)
        // Reused objects must not carry state between messages (no context takeover).
        for _ in 0..<2 {
            let result = inflater.inflate(compressed.span.bytes, limit: 1 << 20)
            #expect(try result.get() == payload)
        }
    }

    @Test func compressedMessageIsInflatedByTheParser() throws {
        let deflater = try #require(WebSocketDeflater())
        let inflater = try #require(WebSocketInflater())
        let text = Array(String(repeating: "heartbeat ", count: 50).utf8)
        let compressed = deflater.deflate(text.span.bytes)
        let half = compressed.count / 2
        let bytes =
            clientFrame(0x1, Array(compressed[..<half]), fin: false, rsv: 4)
            + clientFrame(0x9, [])
            + clientFrame(0x0, Array(compressed[half...]))
            + clientFrame(0x2, [1, 2, 3])  // an uncompressed message on the same connection
        let expected: [WebSocketEvent] = [.ping([]), .text(text), .binary([1, 2, 3])]
        #expect(parseEvents(bytes, configuration: Self.deflate, inflater: inflater) == expected)
        #expect(parseEvents(bytes, chunk: 1, configuration: Self.deflate, inflater: inflater) == expected)
        let single = clientFrame(0x2, compressed, rsv: 4)
        let inPlace = parseEventsInPlace(single, splits: [], configuration: Self.deflate, inflater: inflater)
        #expect(inPlace.events == [.binary(text)])
    }

    @Test func inflatedSizeIsLimited() throws {
        let deflater = try #require(WebSocketDeflater())
        let inflater = try #require(WebSocketInflater())
        let zeros = [UInt8](repeating: 0, count: 10_000)
        let compressed = deflater.deflate(zeros.span.bytes)
        #expect(compressed.count < 200)
        let configuration = WebSocketFrameParser.Configuration(maxMessageSize: 9_999, permessageDeflate: true)
        let events = parseEvents(clientFrame(0x2, compressed, rsv: 4), configuration: configuration, inflater: inflater)
        #expect(events.first?.closeCode == .messageTooBig)
        #expect(inflater.inflate(compressed.span.bytes, limit: 10_000) == .success(zeros))
    }

    @Test func corruptDataIs1007() throws {
        let inflater = try #require(WebSocketInflater())
        let events = parseEvents(
            clientFrame(0x2, [0xFF, 0xFF, 0xFF], rsv: 4), configuration: Self.deflate, inflater: inflater)
        #expect(events == [.protocolError(code: .invalidPayload, reason: "invalid permessage-deflate data")])
    }

    @Test func compressedMessageWithoutInflaterIs1011() {
        #expect(
            parseEvents(clientFrame(0x2, [0x00], rsv: 4), configuration: Self.deflate).first?.closeCode
                == .internalError)
    }
}
