import CLinux
import Core
import GatewayCore
import Glibc

/// One event-loop thread on epoll: its own SO_REUSEPORT listener, level-triggered reads into
/// one loop-wide buffer, writes straight from one loop-wide output buffer. Only the bytes a
/// socket could not take are copied into the connection, so an idle agent owns no buffer.
///
/// Shared with other threads only through `mailbox` (Sendable) and `published` (a Mutex);
/// everything else is touched by the loop's own thread alone. That
/// confinement is what makes it safe to send.
final class EpollLoop<Kernel: PollKernel> {
    /// A connection's record, stored by value in the slab: the protocol state (and TLS) lives
    /// in `link`, the rest is the socket and what it has not taken yet.
    struct Record {
        var fd: Int32
        var link: AgentLink
        var pending: [UInt8] = []
        var pendingOffset = 0
        var watchingWrites = false
    }

    static var listenToken: UInt64 { .max }
    static var wakeToken: UInt64 { .max - 1 }
    static var readSize: Int { 64 * 1024 }

    let index: Int
    let ctx: LoopContext
    let kernel: Kernel
    var events = [epoll_event](repeating: epoll_event(), count: 512)
    let epfd: Int32
    var listenFD: Int32
    var slab = Slab<Record>()
    var rechecks = Rechecks()
    let readBuffer: KernelBuffer
    var out: [UInt8] = []
    var stopping = false
    var stoppingSince: UInt64 = 0
    /// Longest a shutdown waits for agents to finish their close handshakes.
    static var shutdownLimit: UInt64 { 5_000 }
    var listening = true
    var acceptPaused = false
    var lastTick: UInt64 = 0
    var nextToken: UInt64
    /// A push to every agent in progress.
    var sweep: PushSweep?
    /// The loop's counters as of its last tick, for readers on other threads.
    let published = PublishedCounters()

    init(index: Int, address: SocketAddress, context: LoopContext, kernel: Kernel) throws(SystemError) {
        self.index = index
        self.ctx = context
        self.kernel = kernel
        nextToken = 0
        epfd = try kernel.createPoll()
        mailbox = try Mailbox()
        listenFD = try kernel.listen(address)
        readBuffer = KernelBuffer(byteCount: Self.readSize, alignment: 16)
        out.reserveCapacity(Self.readSize)
        try watch(listenFD, token: Self.listenToken, events: EPOLLIN.rawValue)
        try watch(mailbox.wakeFD, token: Self.wakeToken, events: EPOLLIN.rawValue)
    }

    deinit {
        kernel.close(epfd)
        if listenFD >= 0 { kernel.close(listenFD) }
    }

    /// The port the listener is bound to.
    var boundPort: UInt16 { kernel.boundPort(listenFD) }

    /// Work for this loop from other threads, and its wake-up.
    let mailbox: Mailbox

    func watch(_ fd: Int32, token: UInt64, events: UInt32, modify: Bool = false) throws(SystemError) {
        let rc = kernel.control(epfd, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events: events, token: token)
        if rc < 0 { throw SystemError(call: "epoll_ctl", errno: -rc) }
    }

    /// A write that failed only because the socket is full (or was interrupted): try again later.
    static func wouldBlock(_ e: Int) -> Bool {
        e == Int(EAGAIN) || e == Int(EWOULDBLOCK) || e == Int(EINTR)
    }

    static func token(_ slot: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    /// Runs until stopped and every connection is closed. Specialized for the real kernel, for
    /// the reason `URingLoop.run` gives.
    @_specialize(where Kernel == EpollSystem)
    func run() {
        while turn() {}
    }

    /// One pass of the loop: wait for readiness, handle it and the mailbox, run timers. False
    /// once the loop has stopped.
    func turn() -> Bool {
        let n = kernel.wait(epfd, &events, timeout: sweep == nil ? 250 : 0)
        ctx.advance()
        for i in 0..<n {
            let token = events[i].data.u64
            let flags = events[i].events
            switch token {
            case Self.listenToken: acceptAll()
            case Self.wakeToken: drainWake()
            default: handle(token, flags)
            }
        }
        for message in mailbox.drain() { deliver(message) }
        continueSweep()
        if ctx.now &- lastTick >= 250 { tickAll() }
        // Never hang a shutdown on a peer that does not let us finish.
        if stopping && (slab.count == 0 || ctx.now &- stoppingSince > Self.shutdownLimit) {
            for slot in slab.liveSlots { close(slot) }
            return false
        }
        return true
    }

    func deliver(_ message: LoopMessage) {
        message.apply(sweep: &sweep) { deliver($1, to: Int32(bitPattern: $0)) }
    }

    /// The next slice of a push to every agent.
    func continueSweep() {
        let isLive: (Int) -> Bool = { self.slab.items[$0] != nil }
        PushSweep.step(&sweep, slots: slab.items.count, isLive: isLive) { deliver($1, to: Int32(bitPattern: $0)) }
    }

    func drainWake() {
        Sys.drain(eventFD: mailbox.wakeFD)
        if mailbox.stopRequested && !stopping { beginShutdown() }
    }

    func beginShutdown() {
        stopping = true
        ctx.stopping = true
        stoppingSince = ctx.now
        stopListening()
        for slot in slab.liveSlots { deliver(.shutdown, to: slot) }
    }

    func stopListening() {
        guard listenFD >= 0 else { return }
        kernel.close(listenFD)
        listenFD = -1
        listening = false
    }

    // MARK: Accept

    func acceptAll() {
        guard listening, !acceptPaused else { return }
        while true {
            if slab.count >= ctx.configuration.epollConnectionsPerLoop {
                pauseAccepting()
                return
            }
            var source: UInt64 = 0
            let fd = kernel.accept(listenFD, source: &source)
            if fd < 0 {
                let e = -fd
                if e == EINTR || e == ECONNABORTED { continue }
                // EMFILE/ENFILE: out of descriptors; the backlog waits until some close.
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { pauseAccepting() }
                return
            }
            kernel.setNoDelay(fd)
            nextToken &+= 1
            var record = Record(fd: fd, link: .accepted(token: nextToken, ctx))
            record.link.source = source
            let (slot, generation) = slab.insert(record)
            rechecks.soon(Int(slot))
            let token = ConnectionToken.make(loop: ctx.loopIndex, counter: nextToken, slot: UInt32(slot))
            slab.withElement(slot) { $0.link.token = token }
            ctx.halfOpen.append(slot: UInt32(slot), token: token)
            do {
                try watch(fd, token: Self.token(slot, generation), events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            } catch {
                close(slot)
            }
            boundHalfOpen()
        }
    }

    /// Closes the oldest half-open connections until the loop is back under its cap, and drops
    /// queue entries of connections that moved on (each accept adds one: without this the queue
    /// would grow with every connection the loop ever accepted).
    func boundHalfOpen() {
        while ctx.handshaking > ctx.configuration.maxHandshakesPerLoop,
            let victim = ctx.halfOpen.popOldest(where: isHalfOpen)
        {
            deliver(.shed, to: Int32(victim.slot))
        }
        ctx.halfOpen.compact(live: ctx.handshaking, where: isHalfOpen)
    }

    func isHalfOpen(_ entry: HalfOpenQueue.Entry) -> Bool {
        slab.withElement(Int32(entry.slot)) { $0.link.token == entry.token && $0.link.isHalfOpen } ?? false
    }

    /// The listener is level-triggered: while this loop cannot take connections it must stop
    /// watching it, or epoll reports it ready forever and the loop spins.
    func pauseAccepting() {
        guard !acceptPaused, listenFD >= 0 else { return }
        acceptPaused = true
        _ = kernel.control(epfd, EPOLL_CTL_DEL, listenFD, events: 0, token: 0)
    }

    func resumeAcceptingIfPossible() {
        guard acceptPaused, listening, listenFD >= 0, slab.count < ctx.configuration.epollConnectionsPerLoop else {
            return
        }
        acceptPaused = false
        try? watch(listenFD, token: Self.listenToken, events: EPOLLIN.rawValue)
        acceptAll()
    }

    // MARK: Read, write, close

    func handle(_ token: UInt64, _ flags: UInt32) {
        let slot = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        guard slab.isLive(slot, generation) else { return }
        if flags & EPOLLOUT.rawValue != 0 { flush(slot) }
        guard slab.isLive(slot, generation) else { return }
        if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
            readOnce(slot)
        }
    }

    func readOnce(_ slot: Int32) {
        guard let fd = slab.withElement(slot, { $0.fd }) else { return }
        let n = kernel.read(fd, into: readBuffer)
        if n < 0 {
            let e = Int32(-n)
            if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return }
            close(slot)
            return
        }
        if n == 0 {
            close(slot)
            return
        }
        // Once the machine decided to close it ignores input: reading on only drains the socket.
        readBuffer.lend(0..<n) { deliver(received: &$0, to: slot) }
    }

    /// See `LinkDriver.step`: the link is reached in the slab; the output is written at once,
    /// and what the socket does not take is queued.
    @inline(__always)
    func step(_ slot: Int32, _ apply: (inout AgentLink, inout [UInt8]) -> ConnectionAction) {
        out.removeAll(keepingCapacity: true)
        // The buffer is moved out while the slab is mutated, so the two never alias.
        var scratch = out
        out = []
        let action = slab.withElement(slot) { apply(&$0.link, &scratch) }
        out = scratch
        guard let action else { return }
        if action == .close {
            close(slot)
            return
        }
        if !out.isEmpty { send(slot) }
        guard slab.withElement(slot, { _ in true }) == true else { return }
        switch action {
        case .none, .close: break
        case .finish:
            rechecks.soon(Int(slot))
            if slab.withElement(slot, { $0.pending.isEmpty }) == true { deliver(.flushed, to: slot) }
        case .shutdownWrite:
            if let fd = slab.withElement(slot, { $0.fd }) { kernel.shutdownWrite(fd) }
        }
    }

    func close(_ slot: Int32) {
        guard var record = slab.remove(slot) else { return }
        rechecks.forget(Int(slot))
        kernel.close(record.fd)
        var nothing: [UInt8] = []
        _ = record.link.handle(.closed, ctx, &nothing)
    }

    // MARK: Timers

    func tickAll() {
        lastTick = ctx.now
        resumeAcceptingIfPossible()
        published.publish(ctx)
        let now = ctx.now
        for i in rechecks.due(now) {
            let slot = Int32(i)
            guard slab.withElement(slot, { _ in true }) == true else {
                rechecks.forget(i)
                continue
            }
            deliver(.tick, to: slot)
            let ctx = self.ctx
            if let deadline = slab.withElement(slot, { $0.link.deadline(ctx) }) ?? nil {
                rechecks.after(i, deadline: deadline, now: now, tick: 250)
            }
        }
        ctx.expireHTTPSessions()
    }
}
