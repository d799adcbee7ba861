import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct WebSocketFrameWriterTests {
    @Test(arguments: [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)])
    func headerSizes(_ count: Int, _ size: Int) {
        #expect(WebSocketFrameWriter.headerSize(payloadCount: count) == size)
    }

    @Test func headerBytes() {
        func header(_ opcode: WebSocketOpcode, _ count: Int, compressed: Bool = false) -> [UInt8] {
            var out: [UInt8] = []
            WebSocketFrameWriter.appendHeader(opcode, payloadCount: count, compressed: compressed, to: &out)
            #expect(out.count <= WebSocketFrameWriter.maxHeaderSize)
            return out
        }
        #expect(header(.binary, 5) == [0x82, 5])
        #expect(header(.text, 125) == [0x81, 125])
        #expect(header(.binary, 126) == [0x82, 126, 0, 126])
        #expect(header(.binary, 65535) == [0x82, 126, 0xFF, 0xFF])
        #expect(header(.binary, 65536) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(header(.binary, 0x0102_0304_0506) == [0x82, 127, 0, 0, 1, 2, 3, 4, 5, 6])
        #expect(header(.binary, 3, compressed: true) == [0xC2, 3])
        #expect(header(.ping, 0) == [0x89, 0])
    }

    @Test func wholeFrames() {
        #expect(WebSocketFrameWriter.binary([1, 2]) == [0x82, 2, 1, 2])
        #expect(WebSocketFrameWriter.text("hi") == [0x81, 2, 0x68, 0x69])
        #expect(WebSocketFrameWriter.ping() == [0x89, 0])
        #expect(WebSocketFrameWriter.pong([7]) == [0x8A, 1, 7])
        #expect(WebSocketFrameWriter.close(code: nil) == [0x88, 0])
        #expect(
            WebSocketFrameWriter.close(code: .messageTooBig, reason: "big") == [0x88, 5, 0x03, 0xF1, 0x62, 0x69, 0x67])
        let large = [UInt8](repeating: 9, count: 70000)
        let frame = WebSocketFrameWriter.binary(large)
        #expect(frame.count == 70010)
        #expect(Array(frame.prefix(10)) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70])
    }

    @Test func closeReasonIsCutToFitAtAScalarBoundary() {
        let reason = String(repeating: "é", count: 100)  // 200 UTF-8 bytes
        let payload = WebSocketFrameWriter.closePayload(code: .normal, reason: reason)
        #expect(payload.count == 124)
        #expect(String(validating: payload[2...], as: UTF8.self) == String(repeating: "é", count: 61))
    }

    @Test func serverFramesParseBackOnceMasked() {
        // Server frames are unmasked; mask them as a client would and the parser reads them back.
        let frames: [([UInt8], WebSocketEvent)] = [
            (WebSocketFrameWriter.binary(Array(0..<200)), .binary(Array(0..<200))),
            (WebSocketFrameWriter.text("héllo"), .text(Array("héllo".utf8))),
            (WebSocketFrameWriter.ping([1]), .ping([1])),
            (WebSocketFrameWriter.close(code: .goingAway, reason: "bye"), .close(code: .goingAway, reason: "bye")),
        ]
        for (frame, event) in frames {
            let length7 = frame[1] & 0x7F
            let headerSize = length7 == 126 ? 4 : length7 == 127 ? 10 : 2
            let payload = Array(frame[headerSize...])
            let opcode = frame[0] & 0x0F
            #expect(parseEvents(clientFrame(opcode, payload)) == [event])
        }
    }
}
