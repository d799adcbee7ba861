import COpenSSL
import Core

/// The server's side of the RFC 6455 §4.2 opening handshake, as pure functions of the request.
public enum WebSocketHandshake {
    /// The fixed GUID RFC 6455 §1.3 appends to the key.
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Checks the upgrade request and builds the response. permessage-deflate is accepted only
    /// when `allowDeflate`, so compression stays behind an operator flag.
    public static func respond(
        to request: WebSocketHandshakeRequest, allowDeflate: Bool = false
    ) -> Result<WebSocketHandshakeAcceptance, WebSocketHandshakeRejection> {
        if let rejection = validate(request) { return .failure(rejection) }
        let key = String(decoding: WebSocketHeaderTokens.trimmed(Array((request.key ?? "").utf8)[...]), as: UTF8.self)
        let accept = acceptValue(forKey: key)
        let deflate = allowDeflate ? WebSocketDeflateParameters.negotiate(offers: request.extensions) : nil
        var text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Accept: \(accept)\r\n"
        if let deflate { text += "Sec-WebSocket-Extensions: \(deflate.responseHeaderValue)\r\n" }
        text += "\r\n"
        return .success(WebSocketHandshakeAcceptance(acceptValue: accept, deflate: deflate, response: Array(text.utf8)))
    }

    /// base64(SHA-1(key + GUID)): proves to the client that this server read its handshake.
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        _ = SHA1(input, input.count, &digest)
        return Base64.encode(digest)
    }

    /// The first rule the request breaks, in the order RFC 6455 §4.2.1 lists them.
    static func validate(_ request: WebSocketHandshakeRequest) -> WebSocketHandshakeRejection? {
        typealias Header = WebSocketHandshakeRejection.Header
        if request.method != "GET" {
            return .init(
                status: 405, reason: "WebSocket upgrade needs GET", headers: [Header(name: "Allow", value: "GET")])
        }
        if !isHTTP11OrLater(request.httpVersion) {
            return .init(status: 400, reason: "WebSocket upgrade needs HTTP/1.1", headers: [])
        }
        if !WebSocketHeaderTokens.contains(request.upgrade, token: "websocket") {
            return .init(
                status: 426, reason: "this endpoint needs a WebSocket upgrade",
                headers: [
                    Header(name: "Upgrade", value: "websocket"), Header(name: "Sec-WebSocket-Version", value: "13"),
                ])
        }
        if !WebSocketHeaderTokens.contains(request.connection, token: "upgrade") {
            return .init(status: 400, reason: "Connection header lacks the upgrade token", headers: [])
        }
        let version = request.version.map { WebSocketHeaderTokens.trimmed(Array($0.utf8)[...]) }
        if version.map({ Array($0) }) != Array("13".utf8) {
            return .init(
                status: 426, reason: "unsupported Sec-WebSocket-Version",
                headers: [Header(name: "Sec-WebSocket-Version", value: "13")])
        }
        let key = WebSocketHeaderTokens.trimmed(Array((request.key ?? "").utf8)[...])
        if key.count != 24 || Base64.decode(String(decoding: key, as: UTF8.self))?.count != 16 {
            return .init(status: 400, reason: "Sec-WebSocket-Key is not 16 base64-encoded bytes", headers: [])
        }
        return nil
    }

    /// "HTTP/1.1" or a later 1.x minor version; HTTP/2 and 3 have their own upgrade schemes.
    static func isHTTP11OrLater(_ version: String) -> Bool {
        let bytes = Array(version.utf8)
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count > prefix.count, bytes.starts(with: prefix) else { return false }
        let minor = bytes[prefix.count...]
        guard minor.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(String(decoding: minor, as: UTF8.self))
        else { return false }
        return value >= 1
    }
}
