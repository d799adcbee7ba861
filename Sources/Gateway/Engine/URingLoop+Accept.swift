import CLibURing
import Core
import GatewayCore
import Glibc

/// Accepting: which kind of accept is armed, balance between rings, the half-open cap.
extension URingLoop {
    func armAccept() {
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
    func topUpSingles() {
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
    func replaceAccept() {
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

    func stopAccepting() {
        guard accepting else { return }
        accepting = false
        // Every accept on the listener from this ring, one being replaced included.
        uring.cancelAll(fd: listener, userData: URing.userData(.cancel, slot: UInt32.max, generation: 0))
        // Connections already queued on the shared listener wake no other ring by themselves.
        for peer in rings.peers(of: index) {
            uring.message(ringFD: peer, userData: URing.userData(.poke, slot: 0, generation: 0))
        }
    }

    func accepted(_ res: Int32, _ flags: UInt32, single: Bool, epoch: UInt32) {
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
        let token = ConnectionToken.make(loop: ctx.loopIndex, counter: nextToken, slot: slot)
        records.insert(Record(link: .accepted(token: token, ctx)), at: i)
        live += 1
        ctx.halfOpen.append(slot: slot, token: token)
        // Linked ahead of the receive: the peer's address is known before its first bytes are read.
        uring.peerName(
            slot: slot, into: peerNames, at: i * Self.peerNameStride, length: peerNameLength,
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
    func boundHalfOpen() {
        while ctx.handshaking > ctx.configuration.maxHandshakesPerLoop,
            let victim = ctx.halfOpen.popOldest(where: isHalfOpen)
        {
            deliver(.shed, to: victim.slot)
        }
        ctx.halfOpen.compact(live: ctx.handshaking, where: isHalfOpen)
    }

    func isHalfOpen(_ entry: HalfOpenQueue.Entry) -> Bool {
        records.with(Int(entry.slot)) { r in
            r.link.token == entry.token && r.link.isHalfOpen && !r.tearingDown
        } == true
    }
}
