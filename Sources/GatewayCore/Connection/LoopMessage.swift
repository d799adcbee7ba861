import Core

/// Work sent to an event loop from another thread (an operator's push, another loop).
package enum LoopMessage: Sendable {
    /// Offer the current desired state to the agent with this uid, held by the connection in
    /// this slot of the loop (the slot is in the low bits of its owner token).
    case push(InstanceUID, slot: UInt32)
    /// Offer the current desired state to these agents, each in its slot.
    case pushSome([(uid: InstanceUID, slot: UInt32)])
    /// Offer the current desired state to every WebSocket agent of the loop.
    case pushAll
    /// Close the connection of the agent with this uid, in this slot (its certificate was revoked).
    case disconnect(InstanceUID, slot: UInt32)
    /// An operator's command for the agent with this uid, in this slot.
    case command(InstanceUID, AgentCommand, slot: UInt32)
    /// Close the connection of the agent with this uid, in this slot, with 1001: this instance
    /// cannot record it now, another can.
    case release(InstanceUID, slot: UInt32)
}

/// What an operator can tell one connected agent to do.
public enum AgentCommand: Sendable, Equatable {
    /// Restart (only agents with `AcceptsRestartCommand`).
    case restart
    /// Report its full state (the `ReportFullState` flag).
    case reportFullState
    /// Take the desired config (and settings) again, even if offered before.
    case reconcile
    /// Close its connection (WebSocket 1000); it reconnects by itself.
    case disconnect
    /// Send this custom message (only for a capability the agent announced).
    case custom(CustomMessage)
}

extension LoopMessage {
    /// Carries the message out on its loop, the same way on every driver: `send` hands an event
    /// to the connection in a slot (nothing for an empty slot).
    package func apply(sweep: inout PushSweep?, send: (UInt32, ConnectionEvent) -> Void) {
        switch self {
        case .push(let uid, let slot): send(slot, .push(only: uid))
        case .pushSome(let targets): for (uid, slot) in targets { send(slot, .push(only: uid)) }
        case .pushAll: sweep = PushSweep()
        case .disconnect(let uid, let slot): send(slot, .disconnect(uid))
        case .command(let uid, let command, let slot): send(slot, .command(uid, command))
        case .release(let uid, let slot): send(slot, .release(uid))
        }
    }
}
