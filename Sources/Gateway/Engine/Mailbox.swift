import CLinux
import Core
import Glibc
import Synchronization

/// Work sent to an event loop from another thread (an operator's push, another loop).
enum LoopMessage: Sendable {
    /// Offer the current desired state to the agent with this uid, held by the connection in
    /// this slot of the loop (the slot is in the low bits of its owner token).
    case push(InstanceUID, slot: UInt32)
    /// Offer the current desired state to every WebSocket agent of the loop.
    case pushAll
}

/// Connection tokens: the loop in the top 16 bits, a reuse counter, then the slot, so a push for
/// one uid goes straight to its connection instead of scanning the loop.
enum ConnectionToken {
    static func make(loop: Int, counter: UInt64, slot: UInt32) -> UInt64 {
        UInt64(loop) << 48 | (counter & 0xFFFF) << 32 | UInt64(slot)
    }

    static func loop(_ token: UInt64) -> Int { Int(token >> 48) }
    static func slot(_ token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token) }
}

/// A push to every agent of a loop, done a slice per turn: every reply carrying a config holds
/// its own send buffer until the kernel takes it, so slicing bounds that memory.
struct PushSweep {
    /// Connections offered the desired state per loop turn.
    static let slice = 1024
    var next = 0

    /// Offers the next slice of `slots` (`isLive` says which hold a connection); false once done.
    mutating func advance(slots: Int, isLive: (Int) -> Bool, offer: (Int) -> Void) -> Bool {
        var offered = 0
        while next < slots && offered < Self.slice {
            let i = next
            next += 1
            guard isLive(i) else { continue }
            offered += 1
            offer(i)
        }
        return next < slots
    }
}

/// Runs a body on the connection in a slot with the loop's output buffer (nothing for an empty
/// or closing slot): how each engine lets the shared code below reach its connections.
typealias ConnectionAction = (UInt32, (inout AgentConnection, inout [UInt8]) -> ConnectionVerdict) -> Void

extension LoopMessage {
    /// Carries the message out on its loop, the same way on both engines.
    func apply(_ ctx: LoopContext, sweep: inout PushSweep?, act: ConnectionAction) {
        switch self {
        case .push(let uid, let slot):
            act(slot) { connection, out in
                connection.push(ctx, only: uid, &out)
                return .open
            }
        case .pushAll:
            sweep = PushSweep()
        }
    }
}

extension PushSweep {
    /// Offers the desired state to the next slice of a loop's connections; ends the sweep when done.
    static func step(
        _ sweep: inout PushSweep?, slots: Int, isLive: (Int) -> Bool, _ ctx: LoopContext, act: ConnectionAction
    ) {
        guard var current = sweep else { return }
        let more = current.advance(
            slots: slots, isLive: isLive,
            offer: { slot in
                act(UInt32(slot)) { connection, out in
                    connection.push(ctx, only: nil, &out)
                    return .open
                }
            })
        sweep = more ? current : nil
    }
}

/// A loop's inbox. Senders take a lock; the loop only reads an atomic count on each turn and
/// takes the lock when there is something to drain, so the per-message path stays lock-free.
final class Mailbox: Sendable {
    private let messages = Mutex<[LoopMessage]>([])
    private let pending = Atomic<Int>(0)
    private let stop = Atomic<Bool>(false)
    /// Written by other threads to wake the loop; the loop watches it (epoll) or keeps a read
    /// armed on it (io_uring).
    let wakeFD: Int32

    init() throws(SystemError) {
        wakeFD = try Sys.retrying("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    deinit { Sys.close(wakeFD) }

    /// Posts a message and wakes the loop.
    func post(_ message: LoopMessage) {
        messages.withLock { $0.append(message) }
        pending.add(1, ordering: .releasing)
        wake()
    }

    /// Asks the loop to close agents with 1001 and finish.
    func requestStop() {
        stop.store(true, ordering: .releasing)
        wake()
    }

    /// Whether a stop was requested.
    var stopRequested: Bool { stop.load(ordering: .acquiring) }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Everything posted so far, or nothing without touching the lock.
    func drain() -> [LoopMessage] {
        guard pending.load(ordering: .acquiring) > 0 else { return [] }
        let taken = messages.withLock { messages in
            defer { messages = [] }
            return messages
        }
        pending.subtract(taken.count, ordering: .releasing)
        return taken
    }
}
