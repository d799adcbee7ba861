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
    /// Waits up to `timeout` ms for readiness; the number of `events` written (0 on EINTR).
    func wait(_ epfd: Int32, _ events: inout [epoll_event], timeout: Int32) -> Int
    /// Accepts a non-blocking connection and reports its peer's key: the descriptor, or a negative errno.
    func accept(_ listener: Int32, source: inout UInt64) -> Int32
    /// Turns off Nagle's algorithm (replies are whole messages).
    func setNoDelay(_ fd: Int32)
    /// Bytes read (0 at EOF), or a negative errno.
    func read(_ fd: Int32, into buffer: KernelBuffer) -> Int
    /// Bytes written, or a negative errno.
    func write(_ fd: Int32, _ bytes: RawSpan) -> Int
    /// Shuts the write side.
    func shutdownWrite(_ fd: Int32)
    /// Closes a descriptor.
    func close(_ fd: Int32)
}
