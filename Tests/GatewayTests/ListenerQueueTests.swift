import Foundation
import Testing

@testable import Gateway
@testable import GatewayCore

/// The accept watchdog of the io_uring loops reads the listener's queue length; it must see
/// connections the kernel has completed but nobody has accepted.
struct ListenerQueueTests {
    @Test func queuedConnectionsAreCounted() throws {
        let listener = try Listener.open(try SocketAddress(host: "127.0.0.1", port: 0), backlog: 64)
        defer { Sys.close(listener) }
        #expect(Sys.listenQueueLength(listener) == 0)
        let port = Listener.boundPort(listener)
        var clients: [Int32] = []
        for _ in 0..<3 { clients.append(Self.connect(port)) }
        defer { for fd in clients { close(fd) } }
        #expect(clients.allSatisfy { $0 >= 0 })
        // The handshake completes in the kernel; give loopback a moment.
        let deadline = Date().addingTimeInterval(5)
        while Sys.listenQueueLength(listener) < 3 && Date() < deadline { usleep(1_000) }
        #expect(Sys.listenQueueLength(listener) == 3)
        let accepted = accept(listener, nil, nil)
        #expect(accepted >= 0)
        if accepted >= 0 { close(accepted) }
        #expect(Sys.listenQueueLength(listener) == 2)
    }

    /// A plain TCP connect to 127.0.0.1:`port` (the kernel completes it without an accept).
    static func connect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0 ? fd : -1
    }
}
