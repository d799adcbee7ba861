import CLinux
import Core
import GatewayCore
import Glibc
import Synchronization

/// A loop's inbox. Senders take a lock; the loop only reads an atomic count on each turn and
/// takes the lock when there is something to drain, so the per-message path stays lock-free.
final class Mailbox: Sendable {
    private let messages = Mutex<[LoopMessage]>([])
    private let pending = Atomic<Int>(0)
    private let stop = Atomic<Bool>(false)
    /// Written by other threads to wake the loop; the loop watches it (epoll) or keeps a read
    /// armed on it (io_uring).
    let wakeFD: Int32
    /// Where an io_uring loop's armed read of `wakeFD` lands. It lives as long as the mailbox,
    /// not the loop: senders holding the mailbox (the server's loop handles) can still wake it
    /// after the loop is gone, and the kernel writes here while that read is armed. Once the
    /// mailbox goes, nobody can write to the eventfd, so nothing can land here.
    nonisolated(unsafe) let wakeBuffer = KernelBuffer(byteCount: 8, alignment: 8)

    init() throws(SystemError) {
        wakeFD = try Sys.retrying("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    deinit {
        Sys.close(wakeFD)
    }

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

    private func wake() { Sys.signal(eventFD: wakeFD) }

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
