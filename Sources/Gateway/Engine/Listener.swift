import CLinux
import Glibc

/// Listening sockets: one per event loop with SO_REUSEPORT so the kernel spreads connections.
enum Listener {
    /// The most connections a listener can hold queued: the kernel caps the backlog at
    /// net.core.somaxconn (4096 by default) and queues one more.
    static var maxQueuedConnections: Int {
        var somaxconn = Int(defaultBacklog)
        if let bytes = Sys.readSmallFile("/proc/sys/net/core/somaxconn"),
            let value = Int(String(decoding: bytes.filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self))
        {
            somaxconn = value
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
            try Sys.bind(fd, address)
            _ = try Sys.retrying("listen") { listen(fd, backlog) }
            return fd
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// The port a socket is bound to (after binding port 0).
    static func boundPort(_ fd: Int32) -> UInt16 { Sys.boundPort(fd) }
}
