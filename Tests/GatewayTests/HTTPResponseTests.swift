import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct HTTPResponseTests {
    func text(_ response: HTTPResponse) -> String {
        var buffer: [UInt8] = []
        response.writeHead(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func okWithFieldsAndLength() {
        let response = HTTPResponse(
            status: .ok, headers: [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")],
            contentLength: 1234)
        #expect(
            text(response)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n"
                + "Content-Length: 1234\r\n\r\n")
    }

    @Test func switchingProtocolsHasNoLength() {
        let response = HTTPResponse(
            status: .switchingProtocols,
            headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "x=")])
        #expect(
            text(response)
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: x=\r\n\r\n")
    }

    @Test func appendsAfterExistingBytesAndWritesZeroLength() {
        var buffer: [UInt8] = [1, 2]
        HTTPResponse(status: .noContent, contentLength: 0, version: .http10).writeHead(into: &buffer)
        #expect(buffer.prefix(2) == [1, 2])
        #expect(
            String(decoding: buffer.dropFirst(2), as: UTF8.self)
                == "HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n\r\n")
    }

    @Test(arguments: [
        (101, "Switching Protocols"), (200, "OK"), (204, "No Content"), (400, "Bad Request"),
        (401, "Unauthorized"), (404, "Not Found"), (405, "Method Not Allowed"), (408, "Request Timeout"),
        (411, "Length Required"), (413, "Content Too Large"), (414, "URI Too Long"),
        (415, "Unsupported Media Type"), (426, "Upgrade Required"), (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"), (500, "Internal Server Error"), (501, "Not Implemented"),
        (503, "Service Unavailable"), (505, "HTTP Version Not Supported"), (100, "Continue"),
    ])
    func reasonPhrases(code: Int, phrase: String) {
        #expect(HTTPStatus(code: code).reasonPhrase == phrase)
        #expect(text(HTTPResponse(status: HTTPStatus(code: code))) == "HTTP/1.1 \(code) \(phrase)\r\n\r\n")
    }

    @Test func unknownCodesGetAnEmptyPhrase() {
        #expect(text(HTTPResponse(status: HTTPStatus(code: 299))) == "HTTP/1.1 299 \r\n\r\n")
    }

    @Test func retryAfterForOverload() {
        let response = HTTPResponse(status: .serviceUnavailable, headers: [("Retry-After", "5")], contentLength: 0)
        #expect(text(response) == "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func parseErrorsBecomeClosingResponses() {
        var buffer: [UInt8] = []
        HTTPParseError.bodyTooLarge.writeResponse(into: &buffer)
        #expect(
            String(decoding: buffer, as: UTF8.self)
                == "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                + "Content-Length: 15\r\n\r\nbody too large\n")
    }

    @Test func decimalsAreWrittenWithoutStrings() {
        for value in [0, 7, 9, 10, 99, 100, 1_234_567, Int.max] {
            var buffer: [UInt8] = []
            HTTPSyntax.appendDecimal(value, to: &buffer)
            #expect(String(decoding: buffer, as: UTF8.self) == String(value))
        }
    }
}
