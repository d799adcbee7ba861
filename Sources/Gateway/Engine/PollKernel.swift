import CLinux
import Glibc

/// What the epoll driver asks of the kernel. `EpollSystem` makes the real calls; tests drive
/// `EpollLoop` with a fake that scripts readiness, reads and short writes. Failures come back
/// as a negative errno, so a fake never has to set the global `errno`.
protocol PollKernel: AnyObject {
    /// A new epoll instance.
    func createPoll() throws(SystemError) -> Int32
    /// A non-blocking SO_REUSEPORT listener on `address`.
    func listen(_ address: SocketAddress) throws(SystemError) -> Int32
    /// The port `listener` is bound to.
    func boundPort(_ listener: Int32) -> UInt16
    /// epoll_ctl: 0, or a negative errno.
    func control(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Int32
    /// Waits up to `timeout` ms for readiness; the number of events written (0 on EINTR).
    func wait(_ epfd: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>, timeout: Int32) -> Int
    /// Accepts a non-blocking connection and reports its peer's key: the descriptor, or a negative errno.
    func accept(_ listener: Int32, source: inout UInt64) -> Int32
    /// Turns off Nagle's algorithm (replies are whole messages).
    func setNoDelay(_ fd: Int32)
    /// Bytes read (0 at EOF), or a negative errno.
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// Bytes written, or a negative errno.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    /// Shuts the write side.
    func shutdownWrite(_ fd: Int32)
    /// Closes a descriptor.
    func close(_ fd: Int32)
}

/// The kernel's epoll and socket calls.
final class EpollSystem: PollKernel {
    func createPoll() throws(SystemError) -> Int32 {
        try Sys.retrying("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    func listen(_ address: SocketAddress) throws(SystemError) -> Int32 {
        try Listener.open(address, reusePort: true)
    }

    func boundPort(_ listener: Int32) -> UInt16 { Listener.boundPort(listener) }

    func control(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Int32 {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        while true {
            if epoll_ctl(epfd, op, fd, &event) == 0 { return 0 }
            if errno != EINTR { return -errno }
        }
    }

    func wait(_ epfd: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>, timeout: Int32) -> Int {
        max(0, Int(epoll_wait(epfd, events.baseAddress, Int32(events.count), timeout)))
    }

    func accept(_ listener: Int32, source: inout UInt64) -> Int32 {
        let fd = ampora_accept4_peer(listener, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), &source)
        return fd >= 0 ? fd : -errno
    }

    func setNoDelay(_ fd: Int32) {
        try? Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        return n >= 0 ? n : -Int(errno)
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
        return n >= 0 ? n : -Int(errno)
    }

    func shutdownWrite(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_WR)) }

    func close(_ fd: Int32) { Sys.close(fd) }
}
