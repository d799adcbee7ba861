/// The two HTTP versions this parser accepts; any other `HTTP/x.y` is answered 505.
public enum HTTPVersion: Sendable, Hashable {
    /// HTTP/1.0: connections close after each response unless the client asks for keep-alive.
    case http10
    /// HTTP/1.1: persistent connections by default, `Host` required.
    case http11

    /// The minor version digit, the only one that differs.
    public var minor: Int { self == .http10 ? 0 : 1 }
}
