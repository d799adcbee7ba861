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

    /// Copies a concrete sockaddr into the storage; returns its length.
    private static func store<T>(_ address: T, in storage: inout sockaddr_storage) -> socklen_t {
        withUnsafeBytes(of: address) { source in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
        }
        return socklen_t(MemoryLayout<T>.size)
    }

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
            (family, length) = (AF_INET, Self.store(sin, in: &storage))
        } else if inet_pton(AF_INET6, literal, &v6) == 1 {
            var sin6 = sockaddr_in6()
            (sin6.sin6_family, sin6.sin6_port, sin6.sin6_addr) = (sa_family_t(AF_INET6), port.bigEndian, v6)
            (family, length) = (AF_INET6, Self.store(sin6, in: &storage))
        } else {
            throw SystemError(call: "parse address \(host)", errno: EINVAL)
        }
        self.storage = storage
    }

    /// `HOST:PORT` (IPv6 in brackets).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Listening sockets: one per event loop with SO_REUSEPORT so the kernel spreads connections.
enum Listener {
    /// A listening socket. `reusePort` lets several loops bind the same port; it is off for a
    /// single shared listener, because with it a bind to port 0 may be handed a port that
    /// another SO_REUSEPORT listener of this user already has, and the two would share traffic.
    /// The most connections a listener can hold queued: the kernel caps the backlog at
    /// net.core.somaxconn (4096 by default) and queues one more.
    static var maxQueuedConnections: Int {
        var somaxconn = Int(defaultBacklog)
        let fd = Glibc.open("/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            var bytes = [UInt8](repeating: 0, count: 32)
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
            if n > 0, let value = Int(String(decoding: bytes[0..<n].filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self)) {
                somaxconn = value
            }
        }
        return min(somaxconn, Int(defaultBacklog)) + 1
    }

    static let defaultBacklog: Int32 = 4096

    static func open(_ address: SocketAddress, backlog: Int32 = defaultBacklog, reusePort: Bool = false)
        throws(SystemError)
        -> Int32
    {
        let fd = try Sys.retrying("socket") {
            socket(
                address.family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try Sys.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try Sys.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            var storage = address.storage
            _ = try withUnsafePointer(to: &storage) { (p) throws(SystemError) -> Int32 in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> Int32 in
                    try Sys.retrying("bind \(address)") { bind(fd, sa, address.length) }
                }
            }
            _ = try Sys.retrying("listen") { listen(fd, backlog) }
            return fd
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// The port a socket is bound to (after binding port 0).
    static func boundPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return withUnsafeBytes(of: &storage) { raw in
            let family = raw.load(as: sa_family_t.self)
            if family == sa_family_t(AF_INET6) {
                return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
            }
            return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
        }
    }
}
