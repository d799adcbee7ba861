import CLinux
import Glibc

/// Listening sockets: one per event loop with SO_REUSEPORT so the kernel spreads connections.
enum Listener {
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

    /// A listening socket. `reusePort` lets several loops bind the same port; it is off for a
    /// single shared listener, because with it a bind to port 0 may be handed a port that
    /// another SO_REUSEPORT listener of this user already has, and the two would share traffic.
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
