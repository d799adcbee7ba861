import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct WebSocketHandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    static func request(
        method: String = "GET", version: String = "HTTP/1.1", upgrade: String? = "websocket",
        connection: String? = "Upgrade", key: String? = key, wsVersion: String? = "13", extensions: String? = nil
    ) -> WebSocketHandshakeRequest {
        WebSocketHandshakeRequest(
            method: method, httpVersion: version, upgrade: upgrade, connection: connection, key: key,
            version: wsVersion, extensions: extensions)
    }

    static func rejection(_ request: WebSocketHandshakeRequest) -> WebSocketHandshakeRejection? {
        if case .failure(let rejection) = WebSocketHandshake.respond(to: request) { return rejection }
        return nil
    }

    /// RFC 6455 §1.3 gives this pair; `sha1sum` and `base64` agree.
    @Test func rfcExampleAcceptValue() {
        #expect(WebSocketHandshake.acceptValue(forKey: Self.key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptsAValidUpgrade() throws {
        let acceptance = try WebSocketHandshake.respond(to: Self.request()).get()
        #expect(acceptance.acceptValue == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(acceptance.deflate == nil)
        let expected =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        #expect(String(decoding: acceptance.response, as: UTF8.self) == expected)
    }

    @Test func tokensAreCaseInsensitiveListsAndValuesTrimmed() throws {
        let request = Self.request(
            upgrade: "WebSocket", connection: "keep-alive,  UPGRADE ", key: " \(Self.key) ", wsVersion: " 13")
        let acceptance = try WebSocketHandshake.respond(to: request).get()
        #expect(acceptance.acceptValue == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func headerLookupInitialiserAsksForLowercaseNames() {
        let headers = [
            "upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": Self.key,
            "sec-websocket-version": "13", "sec-websocket-extensions": "permessage-deflate",
        ]
        let request = WebSocketHandshakeRequest(method: "GET", httpVersion: "HTTP/1.1") { headers[$0] }
        #expect(request == Self.request(extensions: "permessage-deflate"))
    }

    @Test func wrongMethodIs405() {
        let rejection = Self.rejection(Self.request(method: "POST"))
        #expect(rejection?.status == 405)
        #expect(rejection?.headers == [.init(name: "Allow", value: "GET")])
    }

    @Test(arguments: ["HTTP/1.0", "HTTP/2", "HTTP/0.9", "HTTP/1.", "HTTP/1.x", "http/1.1"])
    func oldOrOddHTTPVersionIs400(_ version: String) {
        #expect(Self.rejection(Self.request(version: version))?.status == 400)
    }

    @Test func laterHTTP1MinorVersionIsAccepted() {
        #expect(Self.rejection(Self.request(version: "HTTP/1.2")) == nil)
    }

    @Test(arguments: [nil, "h2c", "websockets", "", "web socket"])
    func missingWebSocketUpgradeIs426(_ upgrade: String?) {
        let rejection = Self.rejection(Self.request(upgrade: upgrade))
        #expect(rejection?.status == 426)
        #expect(rejection?.headers.contains(.init(name: "Upgrade", value: "websocket")) == true)
        #expect(rejection?.headers.contains(.init(name: "Sec-WebSocket-Version", value: "13")) == true)
    }

    @Test(arguments: [nil, "keep-alive", "close", "upgrades"])
    func missingConnectionUpgradeIs400(_ connection: String?) {
        #expect(Self.rejection(Self.request(connection: connection))?.status == 400)
    }

    @Test(arguments: [nil, "8", "12", "14", "13, 8", ""])
    func wrongVersionIs426WithSupportedVersion(_ version: String?) {
        let rejection = Self.rejection(Self.request(wsVersion: version))
        #expect(rejection?.status == 426)
        #expect(rejection?.headers == [.init(name: "Sec-WebSocket-Version", value: "13")])
    }

    @Test(arguments: [
        nil, "", "not base64 at all!!!!!!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZSE=",
        "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZQ==dGhl",
    ])
    func badKeyIs400(_ key: String?) {
        #expect(Self.rejection(Self.request(key: key))?.status == 400)
    }

    @Test func rejectionResponseIsACompleteClosingHTTPResponse() throws {
        let rejection = try #require(Self.rejection(Self.request(wsVersion: "8")))
        let text = String(decoding: rejection.response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        #expect(text.contains("\r\nSec-WebSocket-Version: 13\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        let body = "unsupported Sec-WebSocket-Version\n"
        #expect(text.hasSuffix("Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body))
    }

    @Test func deflateIsDeclinedUnlessAllowed() throws {
        let request = Self.request(extensions: "permessage-deflate; client_max_window_bits")
        let declined = try WebSocketHandshake.respond(to: request).get()
        #expect(declined.deflate == nil)
        #expect(!String(decoding: declined.response, as: UTF8.self).contains("Extensions"))
        let accepted = try WebSocketHandshake.respond(to: request, allowDeflate: true).get()
        #expect(accepted.deflate == WebSocketDeflateParameters(serverMaxWindowBits: nil))
        #expect(
            String(decoding: accepted.response, as: UTF8.self).contains(
                "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                    + "client_no_context_takeover\r\n"))
    }

    @Test func deflateOfferParameters() {
        func negotiate(_ header: String) -> WebSocketDeflateParameters? {
            WebSocketDeflateParameters.negotiate(offers: header)
        }
        #expect(negotiate("permessage-deflate")?.serverMaxWindowBits == nil)
        #expect(negotiate("x-webkit-deflate-frame") == nil)
        #expect(negotiate("Permessage-Deflate; Server_No_Context_Takeover") != nil)
        #expect(negotiate("permessage-deflate; server_max_window_bits=10")?.serverMaxWindowBits == 10)
        #expect(negotiate("permessage-deflate; server_max_window_bits=\"12\"")?.serverMaxWindowBits == 12)
        #expect(
            negotiate("permessage-deflate; server_max_window_bits=10")?.responseHeaderValue
                == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                + "server_max_window_bits=10")
        #expect(negotiate("permessage-deflate; server_max_window_bits=8")?.canCompressOutgoing == false)
        #expect(negotiate("permessage-deflate; client_max_window_bits=9") != nil)
        // Malformed or unknown parameters decline that offer; a later valid one still wins.
        for bad in [
            "permessage-deflate; server_max_window_bits", "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=07", "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ] {
            #expect(negotiate(bad) == nil, "\(bad)")
        }
        let second = negotiate("foo, permessage-deflate; bar, permessage-deflate; server_max_window_bits=11")
        #expect(second?.serverMaxWindowBits == 11)
    }
}
