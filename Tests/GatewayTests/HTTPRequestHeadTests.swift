import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct HTTPRequestHeadTests {
    func head(_ fields: String, version: String = "1.1") throws -> HTTPRequestHead {
        let text = "GET /v1/opamp HTTP/\(version)\r\nHost: h\r\n" + fields + "\r\n"
        return try #require(parseHTTP(text).requests.first).head
    }

    @Test(arguments: [
        ("", false),
        ("Accept-Encoding: gzip\r\n", true),
        ("Accept-Encoding: GZIP\r\n", true),
        ("Accept-Encoding: x-gzip\r\n", true),
        ("Accept-Encoding: deflate, gzip\r\n", true),
        ("Accept-Encoding: br, gzip;q=0.5\r\n", true),
        ("Accept-Encoding: gzip;q=1.0\r\n", true),
        ("Accept-Encoding: gzip; Q=0.001\r\n", true),
        ("Accept-Encoding: gzip;q=0\r\n", false),
        ("Accept-Encoding: gzip ; q=0.000\r\n", false),
        ("Accept-Encoding: gzip;q=abc\r\n", false),
        ("Accept-Encoding: gzip;q=1.5\r\n", false),
        ("Accept-Encoding: deflate\r\n", false),
        ("Accept-Encoding: identity\r\n", false),
        ("Accept-Encoding: *\r\n", true),
        ("Accept-Encoding: *;q=0\r\n", false),
        ("Accept-Encoding: gzip;q=0, *\r\n", false),
        ("Accept-Encoding: *, gzip;q=0\r\n", false),
        ("Accept-Encoding: *;q=0, gzip\r\n", true),
        ("Accept-Encoding: deflate\r\nAccept-Encoding: gzip\r\n", true),
        ("Accept-Encoding: gzip;level=9;q=0.2\r\n", true),
    ])
    func acceptsGzip(fields: String, expected: Bool) throws {
        #expect(try head(fields).acceptsGzip == expected)
    }

    @Test(arguments: [
        ("1.1", "", true),
        ("1.1", "Connection: close\r\n", false),
        ("1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
        ("1.1", "Connection: keep-alive\r\n", true),
        ("1.0", "", false),
        ("1.0", "Connection: keep-alive\r\n", true),
        ("1.0", "Connection: Keep-Alive\r\nConnection: close\r\n", false),
    ])
    func keepAlive(version: String, fields: String, expected: Bool) throws {
        #expect(try head(fields, version: version).keepAlive == expected)
    }

    @Test(arguments: [
        ("1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\n", true),
        ("1.1", "Upgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\n", true),
        ("1.1", "Upgrade: h2c, websocket/13\r\nConnection: upgrade\r\n", true),
        ("1.1", "Upgrade: websocket\r\n", false),
        ("1.1", "Connection: upgrade\r\n", false),
        ("1.1", "Upgrade: h2c\r\nConnection: upgrade\r\n", false),
        ("1.1", "Upgrade: websocket\r\nConnection: upgraded\r\n", false),
        ("1.0", "Upgrade: websocket\r\nConnection: upgrade\r\n", false),
    ])
    func webSocketUpgrade(version: String, fields: String, expected: Bool) throws {
        #expect(try head(fields, version: version).isWebSocketUpgrade == expected)
    }

    @Test func mediaTypeIgnoresCaseAndParameters() throws {
        #expect(try head("Content-Type: Application/X-Protobuf ; charset=x\r\n").mediaType == "application/x-protobuf")
        #expect(try head("").mediaType == nil)
        #expect(try head("Content-Type: application/x-protobuf\r\n").contentType == "application/x-protobuf")
    }

    @Test func contentEncodingCombinesLines() throws {
        #expect(try head("Content-Encoding: gzip\r\nContent-Encoding: br\r\n").contentEncoding == "gzip, br")
        #expect(try head("").contentEncoding == nil)
    }

    @Test func tokenSearchSpansLinesAndCase() throws {
        let headers = try head("Connection: a, B\r\nConnection: Upgrade\r\n").headers
        #expect(headers.containsToken("upgrade", in: "connection"))
        #expect(headers.containsToken("b", in: "Connection"))
        #expect(!headers.containsToken("c", in: "Connection"))
    }

    @Test func expectContinueIsAHeaderFact() throws {
        #expect(try head("Expect: 100-Continue\r\n").expectsContinue)
        #expect(try !head("Expect: 100-continue\r\n", version: "1.0").expectsContinue)
        #expect(try !head("").expectsContinue)
    }
}
