import CLibURing
import Glibc

/// The one owner of an io_uring instance and its provided-buffer ring. Every liburing call of
/// the engine goes through here; pointers into the rings never leave this type's methods.
final class URing {
    /// Operation codes packed into the top 4 bits of `user_data`.
    enum Op: UInt64 {
        case accept = 1
        case recv = 2
        case send = 3
        case close = 4
        case shutdown = 5
        case cancel = 6
        case poke = 7
        case wake = 8
        case peer = 9
    }

    let ring: UnsafeMutablePointer<io_uring>
    let flagsNote: String
    private let bufferRing: UnsafeMutableRawPointer
    private let bufferRingBytes: Int
    let buffers: UnsafeMutableRawPointer
    let bufferSize: Int
    let bufferCount: Int
    private var cqes: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private static let cqeBatch = 256

    /// Packs op, generation (28 bits) and slot so a completion for a reused slot is recognised.
    @inline(__always)
    static func userData(_ op: Op, slot: UInt32, generation: UInt32) -> UInt64 {
        op.rawValue << 60 | UInt64(generation & 0x0FFF_FFFF) << 32 | UInt64(slot)
    }

    @inline(__always)
    static func unpack(_ data: UInt64) -> (op: Op?, slot: UInt32, generation: UInt32) {
        (
            Op(rawValue: data >> 60), UInt32(truncatingIfNeeded: data),
            UInt32(truncatingIfNeeded: data >> 32) & 0x0FFF_FFFF
        )
    }

    /// A ring with SINGLE_ISSUER | DEFER_TASKRUN when the kernel takes them, a sparse
    /// registered-file table of `files` slots, and `bufferCount` provided buffers.
    init(entries: UInt32 = 4096, files: UInt32, bufferCount: Int = 512, bufferSize: Int = 8192) throws(SystemError) {
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        var params = io_uring_params()
        // Created disabled: with SINGLE_ISSUER the submitting thread is the one that enables
        // the ring, and that must be the loop thread, not the thread building the server.
        params.flags = UInt32(
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED)
        params.cq_entries = entries * 4
        var rc = io_uring_queue_init_params(entries, ring, &params)
        var note = "SINGLE_ISSUER|DEFER_TASKRUN"
        if rc == -EINVAL {
            params = io_uring_params()
            params.flags = UInt32(IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED)
            params.cq_entries = entries * 4
            rc = io_uring_queue_init_params(entries, ring, &params)
            note = "plain"
        }
        guard rc == 0 else {
            ring.deallocate()
            throw SystemError(call: "io_uring_queue_init_params", errno: -rc)
        }
        flagsNote = note
        rc = io_uring_register_files_sparse(ring, files)
        guard rc == 0 else {
            io_uring_queue_exit(ring)
            ring.deallocate()
            throw SystemError(call: "io_uring_register_files_sparse(\(files))", errno: -rc)
        }
        self.bufferCount = bufferCount
        self.bufferSize = bufferSize
        bufferRingBytes = bufferCount * MemoryLayout<io_uring_buf>.stride
        let mapped = mmap(nil, bufferRingBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            io_uring_queue_exit(ring)
            ring.deallocate()
            throw SystemError(call: "mmap buffer ring", errno: errno)
        }
        bufferRing = mapped
        buffers = .allocate(byteCount: bufferCount * bufferSize, alignment: 4096)
        var reg = io_uring_buf_reg()
        reg.ring_addr = UInt64(UInt(bitPattern: mapped))
        reg.ring_entries = UInt32(bufferCount)
        reg.bgid = 0
        rc = io_uring_register_buf_ring(ring, &reg, 0)
        cqes = .allocate(capacity: Self.cqeBatch)
        guard rc == 0 else {
            munmap(mapped, bufferRingBytes)
            buffers.deallocate()
            io_uring_queue_exit(ring)
            ring.deallocate()
            cqes.deallocate()
            throw SystemError(call: "io_uring_register_buf_ring", errno: -rc)
        }
        let br = mapped.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_init(br)
        for i in 0..<bufferCount {
            io_uring_buf_ring_add(
                br, buffers + i * bufferSize, UInt32(bufferSize), UInt16(i),
                io_uring_buf_ring_mask(UInt32(bufferCount)), Int32(i))
        }
        io_uring_buf_ring_advance(br, Int32(bufferCount))
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
        munmap(bufferRing, bufferRingBytes)
        buffers.deallocate()
        cqes.deallocate()
    }

    /// Makes the calling thread the ring's only submitter; call first thing on the loop thread.
    func enable() throws(SystemError) {
        // Debian's liburing 2.3 declares io_uring_enable_rings but does not export it.
        let rc = io_uring_register(UInt32(ring.pointee.ring_fd), UInt32(IORING_REGISTER_ENABLE_RINGS), nil, 0)
        if rc < 0 { throw SystemError(call: "io_uring_register(ENABLE_RINGS)", errno: -rc) }
    }

    /// The received bytes of buffer `id`.
    @inline(__always)
    func lend(_ id: UInt16, count: Int, _ body: (inout MutableRawSpan) -> Void) {
        var span = MutableRawSpan(
            _unsafeBytes: UnsafeMutableRawBufferPointer(start: buffers + Int(id) * bufferSize, count: count))
        body(&span)
    }

    /// Gives a provided buffer back to the kernel.
    @inline(__always)
    func recycle(_ id: UInt16) {
        let br = bufferRing.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_add(
            br, buffers + Int(id) * bufferSize, UInt32(bufferSize), id, io_uring_buf_ring_mask(UInt32(bufferCount)), 0)
        io_uring_buf_ring_advance(br, 1)
    }

    /// A free submission entry; when the queue is full it is submitted first (the documented
    /// SQ-full path), so callers never see nil.
    func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        while true {
            if let sqe = io_uring_get_sqe(ring) { return sqe }
            _ = io_uring_submit(ring)
        }
    }

    func armAccept(listener: Int32, userData: UInt64, multishot: Bool) {
        let s = sqe()
        if multishot {
            io_uring_prep_multishot_accept_direct(s, listener, nil, nil, 0)
        } else {
            // liburing 2.3 stores file_index + 1, so "allocate a slot" must be passed as
            // IORING_FILE_INDEX_ALLOC - 1 (as its own multishot helper does); passing the
            // constant itself wraps to 0, which means an ordinary descriptor, not a slot.
            io_uring_prep_accept_direct(s, listener, nil, nil, 0, IORING_FILE_INDEX_ALLOC &- 1)
        }
        s.pointee.user_data = userData
    }

    func armRecv(slot: UInt32, userData: UInt64) {
        let s = sqe()
        io_uring_prep_recv_multishot(s, Int32(bitPattern: slot), nil, 0, 0)
        s.pointee.flags |= UInt8(1 << IOSQE_FIXED_FILE_BIT) | UInt8(1 << IOSQE_BUFFER_SELECT_BIT)
        s.pointee.buf_group = 0
        s.pointee.user_data = userData
    }

    func send(slot: UInt32, from buffer: KernelBuffer, range: Range<Int>, userData: UInt64) {
        let s = sqe()
        let start = buffer.address(at: range.lowerBound)
        io_uring_prep_send(s, Int32(bitPattern: slot), start, range.count, Int32(MSG_NOSIGNAL))
        s.pointee.flags |= UInt8(1 << IOSQE_FIXED_FILE_BIT)
        s.pointee.user_data = userData
    }

    /// Asks for a fixed socket's peer address (`getsockopt(SO_PEERNAME)` as an io_uring command:
    /// a registered descriptor has no process descriptor for `getpeername`). The kernel writes
    /// exactly `length` bytes of the sockaddr into `buffer`, which must live until completion.
    /// The next submission is hard-linked behind it.
    func peerName(slot: UInt32, into buffer: KernelBuffer, at offset: Int, length: Int, userData: UInt64) {
        let s = sqe()
        let start = buffer.address(at: offset)
        ampora_prep_getsockopt(s, Int32(bitPattern: slot), Self.soPeerName, start, Int32(length))
        // A hard link: the next submission (the receive) starts after this one, even if it fails.
        s.pointee.flags |= UInt8(1 << IOSQE_FIXED_FILE_BIT) | UInt8(1 << IOSQE_IO_HARDLINK_BIT)
        s.pointee.user_data = userData
    }

    /// `SO_PEERNAME` from `<asm-generic/socket.h>`.
    private static let soPeerName: Int32 = 28

    /// `SHUT_WR`, which a clean build does not see through this module's imports.
    private static let shutWrite: Int32 = 1

    func shutdownWrite(slot: UInt32, userData: UInt64) {
        let s = sqe()
        io_uring_prep_shutdown(s, Int32(bitPattern: slot), Self.shutWrite)
        s.pointee.flags |= UInt8(1 << IOSQE_FIXED_FILE_BIT)
        s.pointee.user_data = userData
    }

    /// Cancels every request on an ordinary descriptor (all accepts armed on the listener).
    func cancelAll(fd: Int32, userData: UInt64) {
        let s = sqe()
        io_uring_prep_cancel_fd(s, fd, UInt32(IORING_ASYNC_CANCEL_ALL))
        s.pointee.user_data = userData
    }

    /// Reads 8 bytes from an ordinary descriptor (the loop's wake-up eventfd).
    func read(fd: Int32, into buffer: KernelBuffer, userData: UInt64) {
        let s = sqe()
        let start = buffer.address(at: 0)
        io_uring_prep_read(s, fd, start, 8, 0)
        s.pointee.user_data = userData
    }

    func cancel(_ target: UInt64, userData: UInt64) {
        let s = sqe()
        io_uring_prep_cancel64(s, target, 0)
        s.pointee.user_data = userData
    }

    func closeDirect(slot: UInt32, userData: UInt64) {
        let s = sqe()
        io_uring_prep_close_direct(s, slot)
        s.pointee.user_data = userData
    }

    /// Posts a completion carrying `userData` into another ring (cross-loop wake-up).
    func message(ringFD: Int32, userData: UInt64) {
        let s = sqe()
        io_uring_prep_msg_ring(s, ringFD, 0, userData, 0)
        // The sender's own completion for the message is ignored (op cancel).
        s.pointee.user_data = Self.userData(.cancel, slot: UInt32.max, generation: 0)
    }

    var ringFD: Int32 { ring.pointee.ring_fd }

    /// Submits everything queued and waits up to `milliseconds` for a completion.
    func submitAndWait(milliseconds: Int) {
        var ts = __kernel_timespec(tv_sec: 0, tv_nsec: Int64(milliseconds) * 1_000_000)
        var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
        _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
    }

    /// Hands each ready completion (user_data, res, flags) to `body`, in batches.
    func drain(_ body: (UInt64, Int32, UInt32) -> Void) {
        while true {
            let n = Int(io_uring_peek_batch_cqe(ring, cqes, UInt32(Self.cqeBatch)))
            if n == 0 { return }
            for i in 0..<n {
                let c = cqes[i]!.pointee
                body(c.user_data, c.res, c.flags)
            }
            io_uring_cq_advance(ring, UInt32(n))
        }
    }

    /// Submits what is queued without waiting.
    func submit() {
        _ = io_uring_submit(ring)
    }

    /// True when this process may create an io_uring with the features the engine needs
    /// (false under seccomp profiles that block io_uring, old kernels, or gVisor).
    static func probe() -> String? {
        do {
            let ring = try URing(entries: 8, files: 16, bufferCount: 8, bufferSize: 4096)
            try ring.enable()
            return nil
        } catch {
            return error.description
        }
    }
}
