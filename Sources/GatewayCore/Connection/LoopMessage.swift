import Core

/// Work sent to an event loop from another thread (an operator's push, another loop).
package enum LoopMessage: Sendable {
    /// Offer the current desired state to the agent with this uid, held by the connection in
    /// this slot of the loop (the slot is in the low bits of its owner token).
    case push(InstanceUID, slot: UInt32)
    /// Offer the current desired state to every WebSocket agent of the loop.
    case pushAll
}

/// Connection tokens: the loop in the top 16 bits, a reuse counter, then the slot, so a push for
/// one uid goes straight to its connection instead of scanning the loop.
package enum ConnectionToken {
    package static func make(loop: Int, counter: UInt64, slot: UInt32) -> UInt64 {
        UInt64(loop) << 48 | (counter & 0xFFFF) << 32 | UInt64(slot)
    }

    package static func loop(_ token: UInt64) -> Int { Int(token >> 48) }
    package static func slot(_ token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token) }
}

extension LoopMessage {
    /// Carries the message out on its loop, the same way on every driver: `send` hands an event
    /// to the connection in a slot (nothing for an empty slot).
    package func apply(sweep: inout PushSweep?, send: (UInt32, ConnectionEvent) -> Void) {
        switch self {
        case .push(let uid, let slot): send(slot, .push(only: uid))
        case .pushAll: sweep = PushSweep()
        }
    }
}
