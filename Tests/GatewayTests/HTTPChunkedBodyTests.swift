import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct HTTPChunkedBodyTests {
    static let head = "POST /v1/opamp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test func chunksAreJoined() throws {
        let request = try #require(
            parseHTTP(Self.head + "5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n").requests.first)
        #expect(request.body == Array("hello 0123456789".utf8))
        #expect(request.isChunked)
        #expect(request.contentLength == nil)
    }

    @Test func extensionsAreIgnored() throws {
        let body = "3;name=value\r\nabc\r\n2 ; quoted=\"a;b\"\r\nde\r\n0;last\r\n\r\n"
        let request = try #require(parseHTTP(Self.head + body).requests.first)
        #expect(request.body == Array("abcde".utf8))
    }

    @Test func trailersAreAcceptedAndDiscarded() throws {
        let outcome = parseHTTP(
            Self.head + "2\r\nok\r\n0\r\nChecksum: abc\r\nX-Other: 1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        let request = try #require(outcome.requests.first)
        #expect(request.body == Array("ok".utf8))
        #expect(!request.headers.contains("Checksum"))
        #expect(outcome.requests.count == 2)
        #expect(outcome.retainedCapacity == 0)
    }

    @Test func hexDigitsInEitherCaseAndLeadingZeros() throws {
        let data = String(repeating: "z", count: 0x1F)
        let request = try #require(parseHTTP(Self.head + "001f\r\n\(data)\r\n0\r\n\r\n").requests.first)
        #expect(request.body.count == 31)
        let upper = try #require(parseHTTP(Self.head + "1F\r\n\(data)\r\n0000\r\n\r\n").requests.first)
        #expect(upper.body.count == 31)
    }

    @Test func emptyChunkedBody() throws {
        let request = try #require(parseHTTP(Self.head + "0\r\n\r\n").requests.first)
        #expect(request.body.isEmpty)
    }

    @Test(arguments: [
        ("\r\n", HTTPParseError.invalidChunkSize),
        ("x\r\n", .invalidChunkSize),
        ("0x5\r\n", .invalidChunkSize),
        ("5 5\r\n", .invalidChunkSize),
        ("-1\r\n", .invalidChunkSize),
        ("fffffffffffffffff\r\n", .invalidChunkSize),
        ("3\r\nabcX", .invalidChunkTerminator),
        ("3\r\nabc\rX", .invalidChunkTerminator),
        ("3\r\nabc\n", .invalidChunkTerminator),
        ("3\nabc", .bareLF),
        ("0\r\nBad Trailer: x\r\n\r\n", .whitespaceBeforeColon),
        ("0\r\n folded\r\n\r\n", .obsoleteLineFolding),
    ])
    func malformedFraming(body: String, error: HTTPParseError) {
        #expect(parseHTTP(Self.head + body).error == error)
    }

    @Test func chunkedBodyIsBoundedAsItArrives() {
        let limits = HTTPLimits(maxBodyBytes: 10)
        let exact = parseHTTP(Self.head + "6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n", limits: limits)
        #expect(exact.requests.first?.body.count == 10)
        // The size line alone is refused: the 11th byte is never awaited.
        let over = parseHTTP(Self.head + "6\r\n012345\r\n5\r\n", limits: limits)
        #expect(over.error == .bodyTooLarge)
        #expect(over.error?.status == .contentTooLarge)
    }

    @Test func chunkSizeLineIsBounded() {
        let limits = HTTPLimits(maxChunkLineBytes: 8)
        #expect(parseHTTP(Self.head + "1;abcdef\r\nx\r\n0\r\n\r\n", limits: limits).requests.count == 1)
        #expect(parseHTTP(Self.head + "1;abcdefg", limits: limits).error == .chunkLineTooLong)
    }

    @Test func trailersShareTheHeaderBudget() {
        let limits = HTTPLimits(maxHeaderCount: 3)
        #expect(parseHTTP(Self.head + "0\r\nA: 1\r\n\r\n", limits: limits).requests.count == 1)
        #expect(parseHTTP(Self.head + "0\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits).error == .tooManyHeaders)
    }

    @Test func chunkedIsCaseInsensitiveAndMayFollowEmptyListElements() throws {
        let text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        #expect(try #require(parseHTTP(text).requests.first).body == [UInt8(ascii: "x")])
    }
}
