import Glibc

/// A failed system call: which one and its errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The call that failed.
    public var call: String
    /// `errno` after the call.
    public var errno: Int32

    /// One line naming the call and the C library's message.
    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// EINTR retried in one place, for every system call of the engine.
extension Sys {
    /// Runs `body` again while it fails with EINTR; any other failure throws with `errno`.
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemError(call: call, errno: e)
        }
    }

    /// Like `retrying` but returns nil for EAGAIN/EWOULDBLOCK, the normal end of non-blocking I/O.
    @inline(__always)
    static func nonBlocking<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T? {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemError(call: call, errno: e)
        }
    }
}
