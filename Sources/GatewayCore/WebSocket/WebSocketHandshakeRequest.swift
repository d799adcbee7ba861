/// The facts of an HTTP request that decide a WebSocket upgrade; the HTTP parser fills it in.
/// Repeated header fields should arrive joined with ", " as RFC 9110 §5.3 allows.
public struct WebSocketHandshakeRequest: Sendable, Equatable {
    /// Request method, e.g. "GET" (case-sensitive, as HTTP methods are).
    public var method: String
    /// Protocol version from the request line, e.g. "HTTP/1.1".
    public var httpVersion: String
    /// `Upgrade` header value.
    public var upgrade: String?
    /// `Connection` header value.
    public var connection: String?
    /// `Sec-WebSocket-Key` header value.
    public var key: String?
    /// `Sec-WebSocket-Version` header value.
    public var version: String?
    /// `Sec-WebSocket-Extensions` header value.
    public var extensions: String?

    /// Builds the request from already extracted values.
    public init(
        method: String, httpVersion: String, upgrade: String? = nil, connection: String? = nil, key: String? = nil,
        version: String? = nil, extensions: String? = nil
    ) {
        self.method = method
        self.httpVersion = httpVersion
        self.upgrade = upgrade
        self.connection = connection
        self.key = key
        self.version = version
        self.extensions = extensions
    }

    /// Builds the request through a header lookup, which is asked for lowercase field names
    /// ("upgrade", "sec-websocket-key", …) and must match them case-insensitively.
    public init(method: String, httpVersion: String, header: (String) -> String?) {
        self.init(
            method: method, httpVersion: httpVersion, upgrade: header("upgrade"), connection: header("connection"),
            key: header("sec-websocket-key"), version: header("sec-websocket-version"),
            extensions: header("sec-websocket-extensions"))
    }
}
