import CLinux
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

/// Every system call of the engine goes through here once, with EINTR retried in one place.
enum Sys {
    /// Copies a concrete sockaddr into the storage; returns its length.
    static func store<T>(_ address: T, in storage: inout sockaddr_storage) -> socklen_t {
        withUnsafeBytes(of: address) { source in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
        }
        return socklen_t(MemoryLayout<T>.size)
    }

    /// Connections waiting in a TCP listener's accept queue (for a listening socket the
    /// kernel reports it as `tcpi_unacked`); 0 if it cannot be read.
    static func listenQueueLength(_ fd: Int32) -> UInt32 {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return 0 }
        return info.tcpi_unacked
    }

    /// The address family a socket is bound with (AF_INET, AF_INET6), or -1.
    static func socketFamily(_ fd: Int32) -> Int32 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 ? Int32(storage.ss_family) : -1
    }

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

    static func close(_ fd: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is already gone.
        _ = Glibc.close(fd)
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        _ = try retrying("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Monotonic milliseconds, for timeouts.
    static func monotonicMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Wall-clock Unix milliseconds, for UUIDv7.
    static func unixMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1000 &+ UInt64(ts.tv_nsec) / 1_000_000
    }

    private final class ThreadBody {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread named `name` (at most 15 bytes kept) running `body`, which is handed
    /// over to it.
    static func spawnThread(name: String, _ body: sending @escaping () -> Void) throws(SystemError) -> pthread_t {
        var thread = pthread_t()
        let threadName = String(name.prefix(15))
        let box = Unmanaged.passRetained(
            ThreadBody {
                ampora_set_thread_name(threadName)
                body()
            }
        ).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { arg in
                let box = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create", errno: rc)
        }
        return thread
    }
}
