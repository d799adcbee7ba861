import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct HTTPParserErrorTests {
    @Test(arguments: [
        // Line endings.
        ("GET / HTTP/1.1\rHost: h\r\n\r\n", HTTPParseError.bareCR),
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", .bareLF),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", .bareLF),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", .bareLF),
        ("GET / HTTP/1.1\r\nHost: h\r\r\n", .bareCR),
        // Request line.
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", .invalidVersion),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidTarget),
        (" GET / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidMethod),
        ("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", .invalidMethod),
        ("GET /\r\n\r\n", .invalidRequestLine),
        ("GET\r\n\r\n", .invalidRequestLine),
        ("GET /\tx HTTP/1.1\r\n", .invalidCharacter),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", .invalidVersion),
        ("GET / HTTP/1.10\r\nHost: h\r\n\r\n", .invalidVersion),
        ("GET / HTTP/1\r\nHost: h\r\n\r\n", .invalidVersion),
        ("GET / HTTP/1.x\r\nHost: h\r\n\r\n", .invalidVersion),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/0.9\r\nHost: h\r\n\r\n", .unsupportedVersion),
        // Field lines.
        ("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .whitespaceBeforeColon),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .whitespaceBeforeColon),
        ("GET / HTTP/1.1\r\nHost h\r\n\r\n", .missingColon),
        ("GET / HTTP/1.1\r\nHost\r\n\r\n", .missingColon),
        ("GET / HTTP/1.1\r\n: h\r\n\r\n", .invalidHeaderName),
        ("GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", .invalidHeaderName),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}b\r\n\r\n", .invalidCharacter),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{01}b\r\n\r\n", .invalidCharacter),
        // Framing.
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", .conflictingContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", .conflictingContentLength),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            .contentLengthWithTransferEncoding
        ),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            .contentLengthWithTransferEncoding
        ),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .invalidTransferEncoding),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            .invalidTransferEncoding
        ),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
    ])
    func refused(text: String, error: HTTPParseError) {
        #expect(parseHTTP(text).error == error)
    }

    @Test func controlBytesAreRefused() {
        for byte: UInt8 in [0, 1, 8, 11, 12, 27, 0x7F] {
            let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX: a".utf8) + [byte] + Array("b\r\n\r\n".utf8)
            #expect(parseHTTP(bytes).error == .invalidCharacter, "byte \(byte)")
            let inLine = Array("GET /".utf8) + [byte] + Array(" HTTP/1.1\r\n".utf8)
            #expect(parseHTTP(inLine).error == .invalidCharacter, "byte \(byte) in request line")
        }
        let nonASCIITarget = Array("GET /".utf8) + [0xC3, 0xA9] + Array(" HTTP/1.1\r\n".utf8)
        #expect(parseHTTP(nonASCIITarget).error == .invalidCharacter)
        let nonASCIIName = Array("GET / HTTP/1.1\r\nHost: h\r\nX".utf8) + [0xC3] + Array(": v\r\n\r\n".utf8)
        #expect(parseHTTP(nonASCIIName).error == .invalidHeaderName)
    }

    @Test func binaryGarbageFailsOnItsFirstByte() {
        var parser = HTTPRequestParser()
        let tlsClientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
        let step = parser.feed(tlsClientHello)
        #expect(step.event == .error(.invalidCharacter))
        #expect(step.consumed == 1)
    }

    @Test func identicalRepeatedContentLengthsAreOne() throws {
        let text = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\ncontent-length: 003\r\n\r\nabc"
        let request = try #require(parseHTTP(text).requests.first)
        #expect(request.contentLength == 3)
        #expect(request.body == Array("abc".utf8))
    }

    @Test func errorsMapToStatuses() {
        let expected: [(HTTPParseError, Int)] = [
            (.requestLineTooLong, 414), (.headersTooLarge, 431), (.tooManyHeaders, 431), (.bodyTooLarge, 413),
            (.unsupportedVersion, 505), (.unsupportedTransferEncoding, 501), (.invalidVersion, 400),
            (.bareCR, 400), (.bareLF, 400), (.obsoleteLineFolding, 400), (.contentLengthWithTransferEncoding, 400),
            (.conflictingContentLength, 400), (.invalidContentLength, 400), (.invalidHost, 400),
            (.invalidChunkSize, 400), (.chunkLineTooLong, 400), (.invalidCharacter, 400),
        ]
        for (error, code) in expected {
            #expect(error.status.code == code, "\(error)")
            #expect(!error.reason.isEmpty)
        }
    }
}
