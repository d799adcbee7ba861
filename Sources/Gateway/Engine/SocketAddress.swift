import CLinux
import Glibc

/// An IPv4 or IPv6 listen address resolved without DNS (hosts are literals or "localhost").
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// Host as given.
    public let host: String
    /// Port (0 lets the kernel pick; `boundPort` then tells which).
    public let port: UInt16
    let storage: sockaddr_storage
    let length: socklen_t
    let family: Int32

    /// Parses a literal address; "localhost" means 127.0.0.1.
    public init(host: String, port: UInt16) throws(SystemError) {
        self.host = host
        self.port = port
        var storage = sockaddr_storage()
        let literal = host == "localhost" ? "127.0.0.1" : host
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            var sin = sockaddr_in()
            (sin.sin_family, sin.sin_port, sin.sin_addr) = (sa_family_t(AF_INET), port.bigEndian, v4)
            (family, length) = (AF_INET, Sys.store(sin, in: &storage))
        } else if inet_pton(AF_INET6, literal, &v6) == 1 {
            var sin6 = sockaddr_in6()
            (sin6.sin6_family, sin6.sin6_port, sin6.sin6_addr) = (sa_family_t(AF_INET6), port.bigEndian, v6)
            (family, length) = (AF_INET6, Sys.store(sin6, in: &storage))
        } else {
            throw SystemError(call: "parse address \(host)", errno: EINVAL)
        }
        self.storage = storage
    }

    /// `HOST:PORT` (IPv6 in brackets).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
