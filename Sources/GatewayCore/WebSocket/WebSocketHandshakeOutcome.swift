/// A successful upgrade: the 101 response to send, then the connection speaks frames.
public struct WebSocketHandshakeAcceptance: Sendable, Equatable {
    /// `Sec-WebSocket-Accept` value sent.
    public var acceptValue: String
    /// Negotiated permessage-deflate terms, nil when declined or not offered; configure the
    /// frame parser's `permessageDeflate` from this.
    public var deflate: WebSocketDeflateParameters?
    /// The complete `101 Switching Protocols` response, headers and blank line.
    public var response: [UInt8]
}

/// A refused upgrade: an HTTP error to send before closing the connection.
public struct WebSocketHandshakeRejection: Error, Sendable, Equatable {
    /// One extra response header.
    public struct Header: Sendable, Equatable {
        /// Field name as sent.
        public var name: String
        /// Field value as sent.
        public var value: String

        /// A header as it will be written.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// HTTP status: 400, 405 or 426.
    public var status: Int
    /// Why, for the response body and logs.
    public var reason: String
    /// Headers the status needs (`Allow`, `Upgrade`, `Sec-WebSocket-Version`).
    public var headers: [Header]

    /// The complete response, closing the connection since no frames will follow.
    public var response: [UInt8] {
        let body = reason + "\n"
        var text = "HTTP/1.1 \(status) \(Self.phrase(status))\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        text += "Content-Type: text/plain; charset=utf-8\r\n"
        text += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        return Array(text.utf8)
    }

    static func phrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 405: return "Method Not Allowed"
        case 426: return "Upgrade Required"
        default: return "Error"
        }
    }
}
