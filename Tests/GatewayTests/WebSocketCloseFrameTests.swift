import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct WebSocketCloseFrameTests {
    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> [WebSocketEvent] {
        parseEvents(clientFrame(0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason))
    }

    static let validCodes: [UInt16] = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    static let invalidCodes: [UInt16] = [
        0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ]

    @Test func emptyCloseHasNoCode() {
        #expect(parseEvents(clientFrame(0x8, [])) == [.close(code: nil, reason: "")])
    }

    @Test func oneByteCloseIs1002() {
        #expect(
            parseEvents(clientFrame(0x8, [0x03])) == [
                .protocolError(code: .protocolError, reason: "one-byte close payload")
            ])
    }

    @Test(arguments: validCodes)
    func validCodesAreReported(_ code: UInt16) {
        #expect(Self.close(code) == [.close(code: WebSocketCloseCode(rawValue: code), reason: "")])
        #expect(WebSocketCloseCode(rawValue: code).isValidOnWire)
    }

    @Test(arguments: invalidCodes)
    func invalidCodesAre1002(_ code: UInt16) {
        #expect(Self.close(code) == [.protocolError(code: .protocolError, reason: "invalid close code \(code)")])
        #expect(!WebSocketCloseCode(rawValue: code).isValidOnWire)
    }

    @Test func utf8ReasonIsDecoded() {
        let reason = "server går ned ✓"
        #expect(Self.close(1001, Array(reason.utf8)) == [.close(code: .goingAway, reason: reason)])
        let longest = Array(repeating: UInt8(ascii: "r"), count: 123)
        #expect(Self.close(1000, longest) == [.close(code: .normal, reason: String(decoding: longest, as: UTF8.self))])
    }

    @Test(
        arguments: [
            [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x9C], [0x61, 0x80],
        ] as [[UInt8]])
    func invalidUTF8ReasonIs1007(_ reason: [UInt8]) {
        #expect(
            Self.close(1000, reason) == [.protocolError(code: .invalidPayload, reason: "close reason is not UTF-8")])
    }

    @Test func closeSplitAcrossChunksIsStillVetted() {
        let frame = clientFrame(0x8, [0x03, 0xE8] + Array("ok".utf8))
        #expect(parseEvents(frame, chunk: 1) == [.close(code: .normal, reason: "ok")])
        let bad = clientFrame(0x8, [0x03, 0xED])
        #expect(parseEvents(bad, chunk: 1).first?.closeCode == .protocolError)
    }

    @Test func closeInsideFragmentedMessageDropsTheBuffer() {
        var parser = WebSocketFrameParser()
        let bytes = clientFrame(0x2, Array(repeating: 1, count: 500), fin: false) + clientFrame(0x8, [0x03, 0xE9])
        #expect(parseEvents(bytes, with: &parser) == [.close(code: .goingAway, reason: "")])
        #expect(parser.bufferedCapacity == 0)
        #expect(parser.isTerminated)
    }
}
