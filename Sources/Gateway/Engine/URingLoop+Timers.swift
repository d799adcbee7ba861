import CLibURing
import CLinux
import Core
import GatewayCore
import Glibc

/// The timer pass, every tick: counters published, stranded connections taken over, due
/// connections' deadlines applied.
extension URingLoop {
    func tickAll() {
        lastTick = ctx.now
        if ctx.loopIndex == 0 && ctx.now &- lastTrim > 10_000 {
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
            let queued = uring.listenQueueLength(listener)
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
            if let deadline = records.with(i, { $0.tearingDown ? nil : $0.link.deadline(ctx) }) ?? nil {
                rechecks.after(i, deadline: deadline, now: now, tick: UInt64(Self.tickMilliseconds))
            }
        }
        if !accepting && !stopping && live < resumeBelow { armAccept() }
        // A growth that failed (no memory for a ring, no thread) is tried again while this ring
        // stays full: nothing else would retry it, as a full ring accepts nothing to fill up again.
        if stoppedFull && !accepting && !stopping { rings.ringIsFull() }
        ctx.expireHTTPSessions()
    }
}
