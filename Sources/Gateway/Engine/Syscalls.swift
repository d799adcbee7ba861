import CLinux
import COpenSSL
import Glibc

// The engine's calls into the C library, and the memory they hand it: system calls (`Sys`),
// buffers the kernel reads and writes (`KernelBuffer`), epoll (`EpollSystem`) and the allocator
// OpenSSL uses (`TLSRecordBuffers`). io_uring's calls are in URing.swift. These two files are
// the only ones of the engine that touch raw pointers: the loops see spans and arrays.

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

    /// Binds `fd` to `address`.
    static func bind(_ fd: Int32, _ address: SocketAddress) throws(SystemError) {
        var storage = address.storage
        _ = try withUnsafePointer(to: &storage) { (p) throws(SystemError) -> Int32 in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> Int32 in
                try retrying("bind \(address)") { Glibc.bind(fd, sa, address.length) }
            }
        }
    }

    /// The port a socket is bound to (after binding port 0).
    static func boundPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        // sin_port and sin6_port lie at the same offset.
        return withUnsafeBytes(of: &storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// The first `limit` bytes of a small file (a /proc setting), or nil if it cannot be read.
    static func readSmallFile(_ path: String, limit: Int = 32) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n >= 0 ? Array(bytes.prefix(n)) : nil
    }

    /// Adds one to an eventfd's counter (wakes whoever watches it).
    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// Reads (and so resets) an eventfd's counter.
    static func drain(eventFD fd: Int32) {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    /// The peer key (`ampora_peer_key`) of the sockaddr the kernel wrote at `offset` of `buffer`.
    static func peerKey(_ buffer: KernelBuffer, at offset: Int, length: UInt32) -> UInt64 {
        ampora_peer_key(buffer.address(at: offset), length)
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

// MARK: Memory the kernel reads and writes

/// Memory the kernel reads or writes on the engine's behalf: send buffers, the epoll loop's read
/// buffer, peer addresses, an eventfd's counter. The loops see it only as spans; its address
/// goes only to the calls in this file and URing.swift. It must outlive any request that names
/// it, which the loops ensure by holding it until the completion.
final class KernelBuffer {
    private let memory: UnsafeMutableRawBufferPointer

    /// `byteCount` bytes (at least one), not cleared: a send buffer is filled by `store` and the
    /// others by the kernel before anything reads them, and clearing would add a pass over every
    /// large reply's buffer.
    init(byteCount: Int, alignment: Int = 64) {
        memory = .allocate(byteCount: max(1, byteCount), alignment: alignment)
    }

    deinit { memory.deallocate() }

    /// Its size in bytes.
    var count: Int { memory.count }

    /// Copies `bytes` to the start (they must fit).
    func store(_ bytes: [UInt8]) {
        precondition(bytes.count <= memory.count, "\(bytes.count) bytes into a buffer of \(memory.count)")
        bytes.withUnsafeBytes { memory.copyMemory(from: $0) }
    }

    /// Lends the bytes in `range` to `body`.
    @inline(__always)
    func lend<R>(_ range: Range<Int>, _ body: (inout MutableRawSpan) -> R) -> R {
        var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(rebasing: memory[range]))
        return body(&span)
    }

    /// The memory itself, for the calls that hand it to the kernel.
    @inline(__always)
    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R { body(memory) }

    /// The address of byte `offset`, for a request that the kernel completes later: it stays
    /// valid for as long as this buffer lives (the memory never moves).
    @inline(__always)
    func address(at offset: Int) -> UnsafeMutableRawPointer {
        precondition(offset >= 0 && offset < memory.count, "offset \(offset) outside a buffer of \(memory.count)")
        return memory.baseAddress! + offset
    }
}

// MARK: epoll

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

    func wait(_ epfd: Int32, _ events: inout [epoll_event], timeout: Int32) -> Int {
        events.withUnsafeMutableBufferPointer {
            max(0, Int(epoll_wait(epfd, $0.baseAddress, Int32($0.count), timeout)))
        }
    }

    func accept(_ listener: Int32, source: inout UInt64) -> Int32 {
        let fd = ampora_accept4_peer(listener, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), &source)
        return fd >= 0 ? fd : -errno
    }

    func setNoDelay(_ fd: Int32) {
        try? Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    func read(_ fd: Int32, into buffer: KernelBuffer) -> Int {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n >= 0 ? n : -Int(errno)
    }

    func write(_ fd: Int32, _ bytes: RawSpan) -> Int {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        return n >= 0 ? n : -Int(errno)
    }

    func shutdownWrite(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_WR)) }

    func close(_ fd: Int32) { Sys.close(fd) }
}

// MARK: OpenSSL's allocator

/// OpenSSL's record buffers, served from a short stack per thread.
///
/// The listener sets `SSL_MODE_RELEASE_BUFFERS` so that an idle TLS agent holds no record
/// buffers; the price is that OpenSSL allocates a buffer of about 17 KB for every record it
/// reads or writes and frees it right after: on every heartbeat, a large-bin request to glibc
/// (which consolidates the fast bins first when they hold chunks) and a buffer cold in cache.
/// Taken from a few buffers kept per thread it is a pop, of memory still in cache. Every other
/// allocation goes straight to glibc.
///
/// `install()` must run before OpenSSL allocates anything in the process (OpenSSL refuses new
/// allocator functions after its first allocation); it is then a no-op that reports `false`, and
/// OpenSSL keeps using malloc.
package enum TLSRecordBuffers {
    /// Requests from this size on are record buffers (16 KiB of payload plus overhead).
    static let smallest = 16 * 1024 + 1
    /// Every record buffer request fits in a block of this size.
    static let blockSize = 18 * 1024
    /// Blocks kept per thread: a loop seals and opens one record at a time, and a handful covers
    /// a handshake's flights.
    static let depth = 8

    nonisolated(unsafe) private static var key = pthread_key_t()
    /// `malloc_usable_size` of a block: how `free` recognises one without a header.
    nonisolated(unsafe) private static var usable = 0
    nonisolated(unsafe) private static var prepared = false
    /// Whether OpenSSL took the pool's functions (set once, at start, before any thread reads it).
    nonisolated(unsafe) package private(set) static var installed = false

    /// Routes OpenSSL's allocations through the pool; false when OpenSSL already allocated.
    @discardableResult
    package static func install() -> Bool {
        prepare()
        installed = installed || CRYPTO_set_mem_functions(allocate, reallocate, release) == 1
        return installed
    }

    /// Sets up the per-thread key and the block size (idempotent; not thread-safe: call once at
    /// start, before the loops run).
    package static func prepare() {
        guard !prepared else { return }
        prepared = true
        pthread_key_create(&key) { cache in
            guard let cache else { return }
            let slots = cache.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            let count = Int(bitPattern: slots[0])
            for i in 0..<count { Glibc.free(slots[1 + i]) }
            Glibc.free(cache)
        }
        let probe = Glibc.malloc(blockSize)
        usable = malloc_usable_size(probe)
        Glibc.free(probe)
    }

    /// This thread's stack: slot 0 holds the count, slots 1... the blocks.
    private static func cache() -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
        if let existing = pthread_getspecific(key) {
            return existing.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        }
        guard let fresh = Glibc.calloc(1 + depth, MemoryLayout<UnsafeMutableRawPointer?>.stride) else { return nil }
        pthread_setspecific(key, fresh)
        return fresh.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    }

    /// OpenSSL's malloc.
    package static let allocate: @convention(c) (Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
        size, _, _ in
        guard size >= TLSRecordBuffers.smallest, size <= TLSRecordBuffers.blockSize else { return Glibc.malloc(size) }
        if let slots = TLSRecordBuffers.cache() {
            let count = Int(bitPattern: slots[0])
            if count > 0 {
                slots[0] = UnsafeMutableRawPointer(bitPattern: count - 1)
                return slots[count]
            }
        }
        return Glibc.malloc(TLSRecordBuffers.blockSize)
    }

    /// OpenSSL's free.
    package static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int32) -> Void = {
        pointer, _, _ in
        guard let pointer else { return }
        // Any block of exactly this usable size can serve any request the pool serves, so a
        // block that did not come from the pool may join it too.
        if malloc_usable_size(pointer) == TLSRecordBuffers.usable, let slots = TLSRecordBuffers.cache() {
            let count = Int(bitPattern: slots[0])
            if count < TLSRecordBuffers.depth {
                slots[1 + count] = pointer
                slots[0] = UnsafeMutableRawPointer(bitPattern: count + 1)
                return
            }
        }
        Glibc.free(pointer)
    }

    /// OpenSSL's realloc: every block is a malloc block, so glibc's realloc serves them all.
    static let reallocate:
        @convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
            pointer, size, _, _ in
            Glibc.realloc(pointer, size)
        }
}
