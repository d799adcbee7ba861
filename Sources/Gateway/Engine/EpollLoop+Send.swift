import CLinux
import Core
import GatewayCore
import Glibc

/// Writing: straight from the loop's output buffer; only what the socket does not take is
/// copied into the connection, with write interest on until it is drained.
extension EpollLoop {
    /// Writes the loop's output buffer; whatever the socket does not take is queued.
    func send(_ slot: Int32) {
        let limit = ctx.configuration.maxPendingSendBytes
        let outcome: WriteOutcome =
            slab.withElement(slot) { record -> WriteOutcome in
                var offset = 0
                if record.pending.count == record.pendingOffset {
                    let n = kernel.write(record.fd, out.span.bytes)
                    if n < 0 && !Self.wouldBlock(-n) { return .failed }
                    offset = max(0, n)
                    if offset == out.count { return .done }
                }
                if record.pending.count - record.pendingOffset + out.count - offset > limit { return .tooSlow }
                if record.pendingOffset > 0 {
                    record.pending.removeFirst(record.pendingOffset)
                    record.pendingOffset = 0
                }
                record.pending.append(contentsOf: out[offset...])
                return .queued
            } ?? .failed
        switch outcome {
        case .done: break
        case .queued: watchWrites(slot, true)
        case .failed: close(slot)
        case .tooSlow:
            ctx.counters.slowConsumers += 1
            close(slot)
        }
    }

    func flush(_ slot: Int32) {
        let failed: Bool =
            slab.withElement(slot) { record -> Bool in
                while record.pendingOffset < record.pending.count {
                    let offset = record.pendingOffset
                    let n = kernel.write(record.fd, record.pending.span.bytes.extracting(offset...))
                    if n < 0 { return !Self.wouldBlock(-n) }
                    record.pendingOffset += n
                }
                // Drained: give the memory back, an idle agent owns no buffer.
                record.pending = []
                record.pendingOffset = 0
                return false
            } ?? true
        if failed {
            close(slot)
            return
        }
        if slab.withElement(slot, { $0.pending.isEmpty }) == true {
            watchWrites(slot, false)
            deliver(.flushed, to: slot)
        }
    }

    func watchWrites(_ slot: Int32, _ on: Bool) {
        guard let (fd, watching) = slab.withElement(slot, { ($0.fd, $0.watchingWrites) }), watching != on else {
            return
        }
        let generation = slab.generations[Int(slot)]
        var events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        if on { events |= EPOLLOUT.rawValue }
        do {
            try watch(fd, token: Self.token(slot, generation), events: events, modify: true)
            slab.withElement(slot) { $0.watchingWrites = on }
        } catch {
            close(slot)
        }
    }
}

/// Where a write of new output left it: all sent, partly queued, failed, or over the bound.
enum WriteOutcome { case done, queued, failed, tooSlow }
