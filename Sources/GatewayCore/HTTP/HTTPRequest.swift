/// A request line and header section, with the facts the gateway routes and frames by.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method token as sent; any token parses, routing decides what is allowed.
    public let method: String
    /// The request target as sent (origin-form for OpAMP: `/v1/opamp`).
    public let target: String
    /// HTTP/1.0 or HTTP/1.1.
    public let version: HTTPVersion
    /// The header fields in arrival order.
    public let headers: HTTPHeaders
    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    public let keepAlive: Bool
    /// The declared body length; nil without `Content-Length` (chunked, or no body).
    public let contentLength: Int?
    /// Whether the body is `Transfer-Encoding: chunked`.
    public let isChunked: Bool
    /// Whether an HTTP/1.1 client sent `Expect: 100-continue` and waits before sending the body.
    public let expectsContinue: Bool
    /// HTTP/1.1 with `Upgrade: websocket` and a `Connection: upgrade` token; the method is not checked.
    public let isWebSocketUpgrade: Bool

    /// The target's path: without its query, and without scheme and authority if in absolute-form,
    /// which RFC 9112 §3.2.2 obliges servers to accept.
    public var path: Substring {
        var rest = target[...]
        if !rest.hasPrefix("/"), let scheme = rest.firstRange(of: "://") {
            let afterAuthority = rest[scheme.upperBound...]
            rest = afterAuthority[(afterAuthority.firstIndex(of: "/") ?? afterAuthority.endIndex)...]
        }
        return rest.prefix { $0 != "?" }
    }
    /// The raw `Content-Type` value.
    public var contentType: String? { headers["Content-Type"] }
    /// The raw `Content-Encoding` value, all lines combined.
    public var contentEncoding: String? { headers.combinedValue("Content-Encoding") }
    /// `OpAMP-Instance-UID`, which plain-HTTP agents send on every request.
    public var opampInstanceUID: String? { headers["OpAMP-Instance-UID"] }
    /// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive), if any.
    public var bearerToken: String? {
        guard let value = headers["Authorization"] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingSpaces
        return token.isEmpty ? nil : String(token)
    }
    /// `Sec-WebSocket-Key` for the handshake's `Sec-WebSocket-Accept`.
    public var secWebSocketKey: String? { headers["Sec-WebSocket-Key"] }
    /// `Sec-WebSocket-Version` (only 13 is valid).
    public var secWebSocketVersion: String? { headers["Sec-WebSocket-Version"] }
    /// `Sec-WebSocket-Extensions`, all lines combined, for permessage-deflate negotiation.
    public var secWebSocketExtensions: String? { headers.combinedValue("Sec-WebSocket-Extensions") }

    /// The media type of `Content-Type`, lowercased and without parameters (`application/x-protobuf`).
    public var mediaType: String? {
        guard let raw = headers.valueBytes("Content-Type") else { return nil }
        let type = HTTPSyntax.trimmed(raw.prefix { $0 != HTTPSyntax.semicolon })
        return String(decoding: type.map(HTTPSyntax.lowercased), as: UTF8.self)
    }

    /// Whether `Accept-Encoding` admits gzip with a non-zero weight, directly or through `*`.
    public var acceptsGzip: Bool { HTTPAcceptEncoding.acceptsGzip(headers) }
}

/// A complete request: its head and its whole body (de-chunked if it was chunked).
@dynamicMemberLookup
public struct HTTPRequest: Sendable, Equatable {
    /// The request line, fields and derived facts.
    public var head: HTTPRequestHead
    /// The body bytes, empty when there is none.
    public var body: [UInt8]

    /// A request from its parts.
    public init(head: HTTPRequestHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    /// The head's properties read straight off the request (`request.keepAlive`).
    public subscript<T>(dynamicMember keyPath: KeyPath<HTTPRequestHead, T>) -> T { head[keyPath: keyPath] }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
