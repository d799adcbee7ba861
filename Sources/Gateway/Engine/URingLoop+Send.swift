import CLibURing
import Core
import GatewayCore
import Glibc

/// Sending: one send in flight per connection, output queued behind it, pooled buffers.
extension URingLoop {
    func takeSendBuffer(_ count: Int) -> KernelBuffer {
        if count <= Self.pooledSize {
            return sendPool.popLast() ?? KernelBuffer(byteCount: Self.pooledSize)
        }
        return KernelBuffer(byteCount: count)
    }

    func returnSendBuffer(_ buffer: KernelBuffer) {
        if buffer.count == Self.pooledSize && sendPool.count < Self.poolLimit { sendPool.append(buffer) }
    }

    func enqueue(_ slot: UInt32) {
        let limit = ctx.configuration.maxPendingSendBytes
        let outcome = records.with(Int(slot)) { r -> EnqueueOutcome in
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
    func startSending(_ slot: UInt32, _ bytes: [UInt8]) {
        let buffer = takeSendBuffer(bytes.count)
        buffer.store(bytes)
        records.with(Int(slot)) {
            $0.sending = buffer
            $0.sendCount = bytes.count
            $0.sendOffset = 0
        }
        submitSend(slot)
    }

    func submitSend(_ slot: UInt32) {
        let i = Int(slot)
        guard let pending = records.with(i, { r in r.sending.map { ($0, r.sendOffset, r.sendCount) } }) ?? nil
        else { return }
        let (buffer, offset, count) = pending
        uring.send(
            slot: slot, from: buffer, range: offset..<count,
            userData: URing.userData(.send, slot: slot, generation: generations[i]))
    }

    func sent(_ slot: UInt32, _ res: Int32) {
        var done: KernelBuffer?
        let next = records.with(Int(slot)) { r -> SendCompletion? in
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
}

/// Where new output goes: straight into a send, behind the one in flight, or nowhere (too slow a reader).
enum EnqueueOutcome { case start, queued, tooSlow }

/// What a send completion leaves to do.
enum SendCompletion {
    case more, failed, teardownDone
    case sendQueued([UInt8])
    case flushed
}
