import GatewayCore

/// Teardown: a slot is freed once nothing is in flight on it.
extension URingLoop {
    /// Starts closing: cancel the receive; the slot is freed once nothing is in flight.
    func teardown(_ slot: UInt32) {
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

    func finishTeardown(_ slot: UInt32) {
        let i = Int(slot)
        // Wait for the send in flight, the cancelled receive's final completion and the shutdown.
        let idle = records.with(i) { $0.tearingDown && $0.sending == nil && !$0.recvArmed && !$0.shutdownInFlight }
        guard idle == true, var record = records.remove(i) else { return }
        var nothing: [UInt8] = []
        _ = record.link.handle(.closed, ctx, &nothing)
        rechecks.forget(i)
        generations[i] &+= 1
        live -= 1
        uring.closeDirect(slot: slot, userData: URing.userData(.close, slot: slot, generation: 0))
        if !stopping && !accepting && live < resumeBelow { armAccept() }
    }

    /// Below this many connections a ring that is not accepting starts again.
    var resumeBelow: Int { stoppedFull ? tableSize - headroom * 2 : tableSize - headroom }
}
