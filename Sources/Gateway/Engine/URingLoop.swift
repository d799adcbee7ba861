import CLibURing
import CLinux
import Core
import GatewayCore
import Glibc

/// One event-loop thread on io_uring. Agents are accepted straight into the ring's registered
/// file table (no process descriptor per agent, which is how one process passes the 20 000
/// open-file limit: each ring has its own table), read with multishot receives into provided
/// buffers, and answered with sends on the fixed descriptors. Several loops share one listener;
/// a loop whose table is nearly full stops accepting and pokes the others.
///
/// Shared with other threads only through `mailbox` (Sendable) and `published` (a Mutex);
/// everything else is touched by the loop's own thread alone, the one that
/// runs `run()` and is the ring's single issuer. That confinement is what makes it safe to send.
final class URingLoop<Kernel: RingKernel> {
    /// A connection's engine-side record, indexed by its fixed-file slot.
    /// The protocol state (and TLS) lives in `link`; the rest is what the kernel holds for the slot.
    struct Record: SlotRecord {
        var link: AgentLink
        /// Bytes of the send in flight (owned until its completion arrives).
        var sending: KernelBuffer?
        var sendCount = 0
        var sendOffset = 0
        /// Output produced while a send was in flight.
        var queued: [UInt8] = []
        var recvArmed = false
        /// A shutdown of the write side is in flight. The kernel runs it on a worker thread, and
        /// it names the socket by slot: closing the slot before it completes would let it shut
        /// the next connection accepted into the slot.
        var shutdownInFlight = false
        /// The receive was cancelled; the slot is closed once nothing is in flight.
        var tearingDown = false

        /// An empty slot: a link that was never accepted (nothing counted), no buffers.
        static var vacant: Record { Record(link: .vacant) }
    }

    static var tickMilliseconds: Int { 250 }

    let index: Int
    let ctx: LoopContext
    let uring: Kernel
    let listener: Int32
    let tableSize: Int
    /// Stop accepting this many slots before the table is full: a full table makes the
    /// kernel accept and then drop connections.
    let headroom: Int
    var records = SlotTable<Record>()
    var generations: [UInt32] = []
    var rechecks = Rechecks()
    var live = 0
    var accepting = false
    /// The armed accept is multishot. One multishot accept takes every connection queued on
    /// the listener in one go (up to its backlog), so it may only be armed while that many slots
    /// are free; nearer to full the ring keeps a batch of single-shot accepts armed, never more
    /// than it has free slots, or the kernel would accept connections into a full table and
    /// reset them.
    var acceptIsMultishot = false
    /// Single-shot accepts in flight (each ends with exactly one completion).
    var pendingSingles = 0
    /// Single-shot accepts kept armed near full: enough for a burst per loop turn.
    static var singleBatch: Int { 64 }
    /// `user_data` slot values telling the two kinds of accept apart.
    static var multishotTag: UInt32 { 0 }
    static var singleTag: UInt32 { 1 }
    /// Below this many live connections a multishot accept cannot overfill the table.
    let multishotBelow: Int
    /// Bumped for each multishot accept armed, so the end of an old one (cancelled, racing a
    /// re-arm) is not taken for the end of the current one.
    var acceptEpoch: UInt32 = 0
    /// Connections waiting on the listener at the last tick (see `tickAll`).
    var queuedAtLastTick: UInt32 = 0
    var stopping = false
    var stoppingSince: UInt64 = 0
    /// Longest a shutdown waits for agents to finish their close handshakes.
    static var shutdownLimit: UInt64 { 5_000 }
    var lastTick: UInt64 = 0
    var lastTrim: UInt64 = 0
    var nextToken: UInt64
    /// A push to every agent in progress.
    var sweep: PushSweep?
    var out: [UInt8] = []
    /// The loop's counters as of its last tick, for readers on other threads.
    let published = PublishedCounters()
    /// The rings sharing the listener (balance, pokes, growth).
    let rings: RingSet
    /// True while this ring pauses accepting because it is ahead of the others.
    var pausedForBalance = false
    /// The ring stopped accepting because its table was full: it waits for a band of closes
    /// before it accepts again. Any other stop (handshake cap, balance) resumes as soon as the
    /// cause is gone, or a ring just short of full could stop for good with nobody accepting.
    var stoppedFull = false
    /// Reusable send buffers: a reply waits in one until the kernel has sent it, and small
    /// replies (heartbeat acks) should not cost a malloc each.
    var sendPool: [KernelBuffer] = []
    /// Per slot, where the kernel writes the peer's address after an accept.
    let peerNames: KernelBuffer
    /// Bytes of the listener family's sockaddr up to the end of the address (no IPv6 scope id).
    let peerNameLength: Int
    static var peerNameStride: Int { 32 }
    static var pooledSize: Int { 512 }
    static var poolLimit: Int { 1024 }

    init(
        index: Int, listener: Int32, files: Int, rings: RingSet, context: LoopContext, kernel: Kernel
    ) throws(SystemError) {
        self.index = index
        self.rings = rings
        self.ctx = context
        self.listener = listener
        self.tableSize = files
        self.headroom = max(32, files / 64)
        multishotBelow = files - max(32, files / 64) - Listener.maxQueuedConnections
        nextToken = 0
        uring = kernel
        peerNames = KernelBuffer(byteCount: files * Self.peerNameStride, alignment: 8)
        peerNameLength = Sys.socketFamily(listener) == Int32(AF_INET6) ? 24 : 8
        mailbox = try Mailbox()
        out.reserveCapacity(64 * 1024)
    }

    /// Work for this loop from other threads.
    let mailbox: Mailbox

    func armWake() {
        uring.read(
            fd: mailbox.wakeFD, into: mailbox.wakeBuffer, userData: URing.userData(.wake, slot: 0, generation: 0))
    }

    func deliver(_ message: LoopMessage) {
        message.apply(sweep: &sweep) { deliver($1, to: $0) }
    }

    /// The next slice of a push to every agent.
    func continueSweep() {
        let isLive: (Int) -> Bool = { self.records.with($0, { !$0.tearingDown }) == true }
        PushSweep.step(&sweep, slots: records.capacity, isLive: isLive) { deliver($1, to: $0) }
    }

    // MARK: Loop

    /// Runs until stopped and every connection is closed.
    ///
    /// The thread reaches this through `any RunLoop`, which calls the generic body: every turn
    /// would then run unspecialized, asking the runtime for `Record`'s metadata and calling the
    /// kernel through its witness table, per completion. The specialization for the real ring
    /// is taken instead, and what `run` calls is specialized with it.
    @_specialize(where Kernel == URing)
    func run() {
        start()
        while turn() {}
    }

    /// Enables the ring and arms the listener and the mailbox.
    func start() {
        do {
            try uring.enable()
        } catch {
            // Cannot happen for a ring this process created; without it the loop cannot run.
            fatalError("io_uring loop \(index): \(error)")
        }
        armAccept()
        armWake()
    }

    /// One pass of the loop: wait, handle completions and messages, run timers. False once the
    /// loop has stopped.
    func turn() -> Bool {
        // Mid-sweep, only collect what is ready: the next slice is due as soon as sends drain.
        uring.submitAndWait(milliseconds: sweep == nil ? Self.tickMilliseconds : 0)
        ctx.advance()
        uring.drain { data, res, flags in complete(data, res, flags) }
        for message in mailbox.drain() { deliver(message) }
        continueSweep()
        if !stopping && mailbox.stopRequested { beginShutdown() }
        if ctx.now &- lastTick >= UInt64(Self.tickMilliseconds) { tickAll() }
        // Never hang a shutdown on a connection whose completions do not come back.
        if stopping && (live == 0 || ctx.now &- stoppingSince > Self.shutdownLimit) {
            // Leave nothing armed on the shared listener: a ring that is gone must not accept.
            uring.cancelAll(fd: listener, userData: URing.userData(.cancel, slot: UInt32.max, generation: 0))
            uring.submit()
            return false
        }
        return true
    }

    func beginShutdown() {
        stopping = true
        ctx.stopping = true
        stoppingSince = ctx.now
        stopAccepting()
        for slot in 0..<records.capacity where records.holds(slot) {
            deliver(.shutdown, to: UInt32(slot))
        }
    }

    // MARK: Completions

    func complete(_ data: UInt64, _ res: Int32, _ flags: UInt32) {
        let (op, slot, generation) = URing.unpack(data)
        switch op {
        case .accept?: accepted(res, flags, single: slot == Self.singleTag, epoch: generation)
        case .recv?:
            guard isCurrent(slot, generation) else {
                if flags & UInt32(IORING_CQE_F_BUFFER) != 0 { uring.recycle(UInt16(flags >> 16)) }
                return
            }
            received(slot, res, flags)
        case .send?:
            guard isCurrent(slot, generation) else { return }
            sent(slot, res)
        case .poke?:
            // Another loop stopped accepting: take over connections waiting on the listener.
            // armAccept itself decides whether a ring paused for balance may resume.
            if !stopping && live < tableSize - headroom {
                if accepting { replaceAccept() } else { armAccept() }
            }
        case .wake?:
            if !stopping { armWake() }
        case .peer?:
            // An older kernel refuses the command: the connection keeps the shared key 0.
            guard res > 0, isCurrent(slot, generation) else { return }
            let key = Sys.peerKey(peerNames, at: Int(slot) * Self.peerNameStride, length: UInt32(res))
            records.with(Int(slot)) { $0.link.source = key }
        case .shutdown?:
            guard isCurrent(slot, generation) else { return }
            let tearingDown = records.with(Int(slot)) { r -> Bool in
                r.shutdownInFlight = false
                return r.tearingDown
            }
            if tearingDown == true { finishTeardown(slot) }
        case .close?, .cancel?, nil:
            break
        }
    }

    func isCurrent(_ slot: UInt32, _ generation: UInt32) -> Bool {
        let i = Int(slot)
        return records.holds(i) && generations[i] & 0x0FFF_FFFF == generation
    }

    func armRecv(_ slot: UInt32) {
        records.with(Int(slot)) { $0.recvArmed = true }
        uring.armRecv(slot: slot, userData: URing.userData(.recv, slot: slot, generation: generations[Int(slot)]))
    }

    func received(_ slot: UInt32, _ res: Int32, _ flags: UInt32) {
        let i = Int(slot)
        let more = flags & UInt32(IORING_CQE_F_MORE) != 0
        if !more { records.with(i) { $0.recvArmed = false } }
        if res <= 0, flags & UInt32(IORING_CQE_F_BUFFER) != 0 {
            uring.recycle(UInt16(flags >> 16))
        }
        if res > 0, flags & UInt32(IORING_CQE_F_BUFFER) != 0 {
            let id = UInt16(flags >> 16)
            // The machine ignores input once its close is decided; deliver skips a slot tearing down.
            uring.lend(id, count: Int(res)) { deliver(received: &$0, to: slot) }
            uring.recycle(id)
            guard !more, let tearingDown = records.with(i, { $0.tearingDown }) else { return }
            if tearingDown { finishTeardown(slot) } else { armRecv(slot) }
            return
        }
        guard let tearingDown = records.with(i, { $0.tearingDown }) else { return }
        if tearingDown {
            finishTeardown(slot)
        } else if res == -ENOBUFS {
            // The buffer pool ran dry (a connect storm): the multishot ended; re-arm.
            armRecv(slot)
        } else {
            // EOF, an error, or the cancellation we asked for.
            teardown(slot)
        }
    }

    // MARK: Output

    /// See `LinkDriver.step`: the link is reached in place in the slot table; the output goes
    /// into a send, or behind the one in flight.
    @inline(__always)
    func step(_ slot: UInt32, _ apply: (inout AgentLink, inout [UInt8]) -> ConnectionAction) {
        let i = Int(slot)
        out.removeAll(keepingCapacity: true)
        let action = records.with(i) { r -> ConnectionAction? in
            r.tearingDown ? nil : apply(&r.link, &out)
        }
        guard let action = action ?? nil else { return }
        if !out.isEmpty { enqueue(slot) }
        guard records.with(i, { !$0.tearingDown }) == true else { return }
        switch action {
        case .none: break
        case .close: teardown(slot)
        case .finish:
            rechecks.soon(i)
            if records.with(i, { $0.sending == nil }) == true { deliver(.flushed, to: slot) }
        case .shutdownWrite:
            records.with(i) { $0.shutdownInFlight = true }
            uring.shutdownWrite(
                slot: slot, userData: URing.userData(.shutdown, slot: slot, generation: generations[i]))
        }
    }
}
