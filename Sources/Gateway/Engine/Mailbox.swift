import Core
import Synchronization

/// Work sent to an event loop from another thread (an operator's push, another loop).
enum LoopMessage: Sendable {
    /// Offer the current desired state to the agent with this uid, if this loop holds it.
    case push(InstanceUID)
    /// Offer the current desired state to every WebSocket agent of the loop.
    case pushAll

    /// The one agent a push is for, or nil for all of them.
    var pushTarget: InstanceUID? {
        switch self {
        case .push(let uid): return uid
        case .pushAll: return nil
        }
    }
}

/// A loop's inbox. Senders take a lock; the loop only reads an atomic count on each turn and
/// takes the lock when there is something to drain, so the per-message path stays lock-free.
final class Mailbox: @unchecked Sendable {
    private let lock = Mutex()
    private var messages: [LoopMessage] = []
    private let pending = Atomic<Int>(0)

    func post(_ message: LoopMessage) {
        lock.withLock { messages.append(message) }
        pending.add(1, ordering: .releasing)
    }

    /// Everything posted so far, or nothing without touching the lock.
    func drain() -> [LoopMessage] {
        guard pending.load(ordering: .acquiring) > 0 else { return [] }
        let taken = lock.withLock {
            let m = messages
            messages = []
            return m
        }
        pending.subtract(taken.count, ordering: .releasing)
        return taken
    }
}
