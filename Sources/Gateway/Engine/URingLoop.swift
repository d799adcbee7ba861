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
final class URingLoop: @unchecked Sendable {
    /// A connection's engine-side record, indexed by its fixed-file slot.
    /// The protocol state lives in `machine`; the rest is what the kernel holds for the slot.
    struct Record: InPlaceUpdatable {
        var machine: ConnectionMachine
        /// Bytes of the send in flight (owned until its completion arrives).
        var sending: UnsafeMutableRawBufferPointer?
        var sendCount = 0
        var sendOffset = 0
        /// Output produced while a send was in flight.
        var queued: [UInt8] = []
        var recvArmed = false
        /// The receive was cancelled; the slot is closed once nothing is in flight.
        var tearingDown = false
    }

    private static let tickMilliseconds = 250

    let index: Int
    let ctx: LoopContext
    let uring: URing
    private let listener: Int32
    private let tableSize: Int
    /// Stop accepting this many slots before the table is full: a full table makes the
    /// kernel accept and then drop connections.
    private let headroom: Int
    private var records = SlotTable<Record>()
    private var generations: [UInt32] = []
    private var rechecks = Rechecks()
    private var live = 0
    private var accepting = false
    /// The armed accept is multishot. One multishot accept takes every connection queued on
    /// the listener in one go (up to its backlog), so it may only be armed while that many slots
    /// are free; nearer to full the ring keeps a batch of single-shot accepts armed, never more
    /// than it has free slots, or the kernel would accept connections into a full table and
    /// reset them.
    private var acceptIsMultishot = false
    /// Single-shot accepts in flight (each ends with exactly one completion).
    private var pendingSingles = 0
    /// Single-shot accepts kept armed near full: enough for a burst per loop turn.
    private static let singleBatch = 64
    /// `user_data` slot values telling the two kinds of accept apart.
    private static let multishotTag: UInt32 = 0
    private static let singleTag: UInt32 = 1
    /// Below this many live connections a multishot accept cannot overfill the table.
    private let multishotBelow: Int
    /// Bumped for each multishot accept armed, so the end of an old one (cancelled, racing a
    /// re-arm) is not taken for the end of the current one.
    private var acceptEpoch: UInt32 = 0
    /// Connections waiting on the listener at the last tick (see `tickAll`).
    private var queuedAtLastTick: UInt32 = 0
    private var stopping = false
    private var stoppingSince: UInt64 = 0
    /// Longest a shutdown waits for agents to finish their close handshakes.
    private static let shutdownLimit: UInt64 = 5_000
    private var lastTick: UInt64 = 0
    private var lastTrim: UInt64 = 0
    private var nextToken: UInt64
    /// A push to every agent in progress.
    private var sweep: PushSweep?
    private var out: [UInt8] = []
    /// The loop's counters as of its last tick, for readers on other threads.
    let published = PublishedCounters()
    /// The rings sharing the listener (balance, pokes, growth).
    private let rings: RingSet
    /// True while this ring pauses accepting because it is ahead of the others.
    private var pausedForBalance = false
    /// The ring stopped accepting because its table was full: it waits for a band of closes
    /// before it accepts again. Any other stop (handshake cap, balance) resumes as soon as the
    /// cause is gone, or a ring just short of full could stop for good with nobody accepting.
    private var stoppedFull = false
    /// Reusable send buffers: a reply waits in one until the kernel has sent it, and small
    /// replies (heartbeat acks) should not cost a malloc each.
    private var sendPool: [UnsafeMutableRawBufferPointer] = []
    /// Per slot, where the kernel writes the peer's address after an accept.
    private let peerNames: UnsafeMutableRawPointer
    /// Bytes of the listener family's sockaddr up to the end of the address (no IPv6 scope id).
    private let peerNameLength: Int
    private static let peerNameStride = 32
    private static let pooledSize = 512
    private static let poolLimit = 1024

    private func takeSendBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if count <= Self.pooledSize {
            return sendPool.popLast() ?? .allocate(byteCount: Self.pooledSize, alignment: 64)
        }
        return .allocate(byteCount: count, alignment: 64)
    }

    private func returnSendBuffer(_ buffer: UnsafeMutableRawBufferPointer) {
        if buffer.count == Self.pooledSize && sendPool.count < Self.poolLimit {
            sendPool.append(buffer)
        } else {
            buffer.deallocate()
        }
    }

    init(index: Int, listener: Int32, files: Int, rings: RingSet, context: LoopContext) throws(SystemError) {
        self.index = index
        self.rings = rings
        self.ctx = context
        self.listener = listener
        self.tableSize = files
        self.headroom = max(32, files / 64)
        multishotBelow = files - max(32, files / 64) - Listener.maxQueuedConnections
        nextToken = 0
        uring = try URing(files: UInt32(files))
        peerNames = .allocate(byteCount: files * Self.peerNameStride, alignment: 8)
        peerNameLength = Sys.socketFamily(listener) == Int32(AF_INET6) ? 24 : 8
        mailbox = try Mailbox()
        out.reserveCapacity(64 * 1024)
    }

    deinit {
        peerNames.deallocate()
    }

    /// Work for this loop from other threads.
    let mailbox: Mailbox
    private let wakeBuffer = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)

    private func armWake() {
        uring.read(fd: mailbox.wakeFD, into: wakeBuffer, userData: URing.userData(.wake, slot: 0, generation: 0))
    }

    private func deliver(_ message: LoopMessage) {
        message.apply(sweep: &sweep) { deliver($1, to: $0) }
    }

    /// The next slice of a push to every agent.
    private func continueSweep() {
        let isLive: (Int) -> Bool = { self.records.with($0, { !$0.tearingDown }) == true }
        PushSweep.step(&sweep, slots: records.capacity, isLive: isLive) { deliver($1, to: $0) }
    }

    // MARK: Loop

    func run() {
        do {
            try uring.enable()
        } catch {
            // Cannot happen for a ring this process created; without it the loop cannot run.
            fatalError("io_uring loop \(index): \(error)")
        }
        armAccept()
        armWake()
        while true {
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
                return
            }
        }
    }

    private func armAccept() {
        guard !accepting, !stopping, live < tableSize - headroom else { return }
        if pausedForBalance {
            // Resume once the others have caught up (or when they cannot take more).
            let least = rings.update(index, live: live)
            if live > least + rings.slack / 2 && least < tableSize - headroom { return }
            pausedForBalance = false
        }
        accepting = true
        stoppedFull = false
        acceptEpoch = (acceptEpoch &+ 1) & 0x0FFF_FFFF
        acceptIsMultishot = live < multishotBelow
        if acceptIsMultishot {
            uring.armAccept(
                listener: listener,
                userData: URing.userData(.accept, slot: Self.multishotTag, generation: acceptEpoch), multishot: true)
        } else {
            topUpSingles()
        }
    }

    /// Keeps up to `singleBatch` single-shot accepts armed, never more than the free slots.
    private func topUpSingles() {
        let room = tableSize - headroom - live - pendingSingles
        for _ in 0..<max(0, min(Self.singleBatch - pendingSingles, room)) {
            uring.armAccept(
                listener: listener,
                userData: URing.userData(.accept, slot: Self.singleTag, generation: acceptEpoch), multishot: false)
            pendingSingles += 1
        }
    }

    /// Swaps the armed multishot accept for a fresh one. A waiting accept does not look at the
    /// listener's queue again: each queued connection woke one waiter when it arrived, and if
    /// that waiter's ring stopped accepting, the connection stays queued (wakes nobody) until a
    /// new accept is issued, which takes everything queued before it waits. The old accept's
    /// end carries the old epoch and is ignored.
    private func replaceAccept() {
        guard accepting else { return }
        if acceptIsMultishot {
            uring.cancel(
                URing.userData(.accept, slot: Self.multishotTag, generation: acceptEpoch),
                userData: URing.userData(.cancel, slot: UInt32.max, generation: 0))
        } else {
            uring.cancelAll(fd: listener, userData: URing.userData(.cancel, slot: UInt32.max, generation: 0))
        }
        accepting = false
        armAccept()
    }

    private func stopAccepting() {
        guard accepting else { return }
        accepting = false
        // Every accept on the listener from this ring, one being replaced included.
        uring.cancelAll(fd: listener, userData: URing.userData(.cancel, slot: UInt32.max, generation: 0))
        // Connections already queued on the shared listener wake no other ring by themselves.
        for peer in rings.peers(of: index) {
            uring.message(ringFD: peer, userData: URing.userData(.poke, slot: 0, generation: 0))
        }
    }

    private func beginShutdown() {
        stopping = true
        ctx.stopping = true
        stoppingSince = ctx.now
        stopAccepting()
        for slot in 0..<records.capacity where records.holds(slot) {
            deliver(.shutdown, to: UInt32(slot))
        }
    }

    // MARK: Completions

    private func complete(_ data: UInt64, _ res: Int32, _ flags: UInt32) {
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
            let key = ampora_peer_key(peerNames + Int(slot) * Self.peerNameStride, UInt32(res))
            records.with(Int(slot)) { $0.machine.source = key }
        case .close?, .shutdown?, .cancel?, nil:
            break
        }
    }

    private func isCurrent(_ slot: UInt32, _ generation: UInt32) -> Bool {
        let i = Int(slot)
        return records.holds(i) && generations[i] & 0x0FFF_FFFF == generation
    }

    private func accepted(_ res: Int32, _ flags: UInt32, single: Bool, epoch: UInt32) {
        if single {
            pendingSingles -= 1
        } else if flags & UInt32(IORING_CQE_F_MORE) == 0 && epoch == acceptEpoch && acceptIsMultishot {
            // The current multishot accept ended: cancelled by us, or an error (re-armed below).
            accepting = false
        }
        guard res >= 0 else {
            if res != -ECANCELED && !accepting {
                armAccept()
            } else if single && accepting && !acceptIsMultishot && !stopping {
                topUpSingles()
            }
            return
        }
        let slot = UInt32(res)
        let i = Int(slot)
        if i >= generations.count {
            generations.append(contentsOf: repeatElement(0, count: i + 1 - generations.count))
        }
        generations[i] &+= 1
        rechecks.soon(i)
        nextToken &+= 1
        let token = ConnectionToken.make(loop: index, counter: nextToken, slot: slot)
        records.insert(Record(machine: .accepted(token: token, ctx)), at: i)
        live += 1
        ctx.halfOpen.append(slot: slot, token: token)
        // Linked ahead of the receive: the peer's address is known before its first bytes are read.
        uring.peerName(
            slot: slot, into: peerNames + i * Self.peerNameStride, length: peerNameLength,
            userData: URing.userData(.peer, slot: slot, generation: generations[i]))
        armRecv(slot)
        if stopping {
            teardown(slot)
            return
        }
        boundHalfOpen()
        if live >= tableSize - headroom {
            _ = rings.update(index, live: live)
            stopAccepting()
            stoppedFull = true
            rings.ringIsFull()
        } else if live > rings.update(index, live: live) + rings.slack {
            pausedForBalance = true
            stopAccepting()
        } else if !accepting {
            armAccept()
        } else if acceptIsMultishot && live >= multishotBelow {
            replaceAccept()
        } else if !acceptIsMultishot {
            topUpSingles()
        }
    }

    /// Closes the oldest half-open connections until the loop is back under its cap, and drops
    /// queue entries of connections that moved on (each accept adds one: without this the queue
    /// would grow with every connection the loop ever accepted).
    private func boundHalfOpen() {
        while ctx.handshaking > ctx.configuration.maxHandshakesPerLoop,
            let victim = ctx.halfOpen.popOldest(where: isHalfOpen)
        {
            deliver(.shed, to: victim.slot)
        }
        ctx.halfOpen.compact(live: ctx.handshaking, where: isHalfOpen)
    }

    private func isHalfOpen(_ entry: HalfOpenQueue.Entry) -> Bool {
        records.with(Int(entry.slot)) { r in
            r.machine.token == entry.token && r.machine.isHalfOpen && !r.tearingDown
        } == true
    }

    private func armRecv(_ slot: UInt32) {
        records.with(Int(slot)) { $0.recvArmed = true }
        uring.armRecv(slot: slot, userData: URing.userData(.recv, slot: slot, generation: generations[Int(slot)]))
    }

    private func received(_ slot: UInt32, _ res: Int32, _ flags: UInt32) {
        let i = Int(slot)
        let more = flags & UInt32(IORING_CQE_F_MORE) != 0
        if !more { records.with(i) { $0.recvArmed = false } }
        if res <= 0, flags & UInt32(IORING_CQE_F_BUFFER) != 0 {
            uring.recycle(UInt16(flags >> 16))
        }
        if res > 0, flags & UInt32(IORING_CQE_F_BUFFER) != 0 {
            let id = UInt16(flags >> 16)
            // The machine ignores input once its close is decided; deliver skips a slot tearing down.
            deliver(.received(uring.buffer(id, count: Int(res))), to: slot)
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

    /// Hands `event` to the connection in `slot` with the loop's output buffer, sends what it
    /// produced, and carries out the machine's action.
    func deliver(_ event: ConnectionEvent, to slot: UInt32) {
        let i = Int(slot)
        out.removeAll(keepingCapacity: true)
        let action = records.with(i) { r -> ConnectionAction? in
            r.tearingDown ? nil : r.machine.handle(event, ctx, &out)
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
            uring.shutdownWrite(
                slot: slot, userData: URing.userData(.shutdown, slot: slot, generation: generations[i]))
        }
    }

    private func enqueue(_ slot: UInt32) {
        let limit = ctx.configuration.maxPendingSendBytes
        enum Outcome { case start, queued, tooSlow }
        let outcome = records.with(Int(slot)) { r -> Outcome in
            if r.sending == nil { return .start }
            if r.queued.count + out.count > limit { return .tooSlow }
            r.queued.append(contentsOf: out)
            return .queued
        }
        switch outcome {
        case .start?: startSending(slot, out)
        case .tooSlow?:
            ctx.counters.slowConsumers += 1
            teardown(slot)
        case .queued?, nil: break
        }
    }

    /// Copies `bytes` into a send buffer that lives until the kernel reports the send done.
    private func startSending(_ slot: UInt32, _ bytes: [UInt8]) {
        let buffer = takeSendBuffer(bytes.count)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        records.with(Int(slot)) {
            $0.sending = buffer
            $0.sendCount = bytes.count
            $0.sendOffset = 0
        }
        submitSend(slot)
    }

    private func submitSend(_ slot: UInt32) {
        let i = Int(slot)
        guard let pending = records.with(i, { r in r.sending.map { ($0, r.sendOffset, r.sendCount) } }) ?? nil
        else { return }
        let (buffer, offset, count) = pending
        uring.send(
            slot: slot, bytes: UnsafeRawBufferPointer(rebasing: buffer[offset..<count]),
            userData: URing.userData(.send, slot: slot, generation: generations[i]))
    }

    private func sent(_ slot: UInt32, _ res: Int32) {
        enum Next {
            case more, failed, teardownDone
            case sendQueued([UInt8])
            case flushed
        }
        var done: UnsafeMutableRawBufferPointer?
        let next = records.with(Int(slot)) { r -> Next? in
            guard let buffer = r.sending else { return nil }
            if res >= 0 {
                r.sendOffset += Int(res)
                if r.sendOffset < r.sendCount && !r.tearingDown { return .more }
            }
            done = buffer
            r.sending = nil
            if r.tearingDown { return .teardownDone }
            if res < 0 { return .failed }
            if r.queued.isEmpty { return .flushed }
            defer { r.queued = [] }
            return .sendQueued(r.queued)
        }
        if let done { returnSendBuffer(done) }
        switch next ?? nil {
        case .more?: submitSend(slot)
        case .failed?: teardown(slot)
        case .teardownDone?: finishTeardown(slot)
        case .sendQueued(let bytes)?: startSending(slot, bytes)
        case .flushed?: deliver(.flushed, to: slot)
        case nil: break
        }
    }

    // MARK: Teardown

    /// Starts closing: cancel the receive; the slot is freed once nothing is in flight.
    private func teardown(_ slot: UInt32) {
        let i = Int(slot)
        let inFlight = records.with(i) { r -> (send: Bool, recv: Bool)? in
            guard !r.tearingDown else { return nil }
            r.tearingDown = true
            return (r.sending != nil, r.recvArmed)
        }
        guard let inFlight = inFlight ?? nil else { return }
        if inFlight.send {
            // A peer that stopped reading would keep this send (and the slot) forever.
            uring.cancel(
                URing.userData(.send, slot: slot, generation: generations[i]),
                userData: URing.userData(.cancel, slot: slot, generation: generations[i]))
        }
        if inFlight.recv {
            uring.cancel(
                URing.userData(.recv, slot: slot, generation: generations[i]),
                userData: URing.userData(.cancel, slot: slot, generation: generations[i]))
        }
        finishTeardown(slot)
    }

    private func finishTeardown(_ slot: UInt32) {
        let i = Int(slot)
        // Wait for the send in flight and for the cancelled receive's final completion.
        let idle = records.with(i) { $0.tearingDown && $0.sending == nil && !$0.recvArmed }
        guard idle == true, var record = records.remove(i) else { return }
        var nothing: [UInt8] = []
        _ = record.machine.handle(.closed, ctx, &nothing)
        rechecks.forget(i)
        generations[i] &+= 1
        live -= 1
        uring.closeDirect(slot: slot, userData: URing.userData(.close, slot: slot, generation: 0))
        if !stopping && !accepting && live < resumeBelow { armAccept() }
    }

    /// Below this many connections a ring that is not accepting starts again.
    private var resumeBelow: Int { stoppedFull ? tableSize - headroom * 2 : tableSize - headroom }

    // MARK: Timers

    private func tickAll() {
        lastTick = ctx.now
        if index == 0 && ctx.now &- lastTrim > 10_000 {
            // A connect storm leaves freed handshake and first-status buffers in every loop
            // thread's malloc arena; hand them back so idle agents cost only their records.
            lastTrim = ctx.now
            malloc_trim(0)
        }
        published.publish(ctx)
        _ = rings.update(index, live: live)
        // Pokes do not catch every stranded connection (a ring's accept may be woken for one
        // after its peer's last re-arm, and then be cancelled before it takes it), so an
        // accepting ring also reads the listener's queue: non-empty at two ticks in a row, it
        // gets a fresh accept. Under a steady stream of connections that re-arms once a tick,
        // which costs two submissions and loses nothing.
        if accepting && !stopping {
            let queued = Sys.listenQueueLength(listener)
            if queued > 0 && queuedAtLastTick > 0 { replaceAccept() }
            queuedAtLastTick = queued
        }
        let now = ctx.now
        for i in rechecks.due(now) {
            guard records.with(i, { !$0.tearingDown }) == true else {
                rechecks.forget(i)
                continue
            }
            deliver(.tick, to: UInt32(i))
            // An open WebSocket agent cannot time out before its idle deadline: nothing to look
            // at until then. Handshakes, HTTP exchanges and closing connections: every pass.
            let ctx = self.ctx
            if let deadline = records.with(i, { $0.tearingDown ? nil : $0.machine.deadline(ctx) }) ?? nil {
                rechecks.after(i, deadline: deadline, now: now, tick: UInt64(Self.tickMilliseconds))
            }
        }
        if !accepting && !stopping && live < resumeBelow { armAccept() }
        ctx.expireHTTPSessions()
    }
}
