import Core
import Testing

@testable import Gateway
@testable import GatewayCore

/// A ring that only records what the driver submits and completes what the test says, in the
/// order it says: the io_uring driver's bookkeeping (slots, generations, sends in flight,
/// cancellations, closes) checked with no kernel and no socket.
final class FakeRing: RingKernel {
    enum Submission: Equatable {
        case accept(multishot: Bool, userData: UInt64)
        case recv(slot: UInt32, userData: UInt64)
        case send(slot: UInt32, bytes: [UInt8], userData: UInt64)
        case peerName(slot: UInt32)
        case shutdownWrite(slot: UInt32)
        case cancelAll(fd: Int32)
        case read(fd: Int32)
        case cancel(target: UInt64)
        case closeDirect(slot: UInt32)
        case message(ringFD: Int32)
    }

    // The kernel's completion flags (a stable ABI): a provided buffer was used; more completions follow.
    static let bufferFlag: UInt32 = 1
    static let moreFlag: UInt32 = 2

    var submissions: [Submission] = []
    private var completions: [(UInt64, Int32, UInt32)] = []
    private var buffers: [UInt16: UnsafeMutableRawBufferPointer] = [:]
    private var nextBuffer: UInt16 = 0
    private var completedSends = 0
    var recycled: [UInt16] = []
    let ringFD: Int32 = 1_000

    deinit { for buffer in buffers.values { buffer.deallocate() } }

    func enable() throws(SystemError) {}
    func submitAndWait(milliseconds: Int) {}
    func submit() {}
    func drain(_ body: (UInt64, Int32, UInt32) -> Void) {
        let ready = completions
        completions = []
        for (data, res, flags) in ready { body(data, res, flags) }
    }
    func lend(_ id: UInt16, count: Int, _ body: (inout MutableRawSpan) -> Void) {
        var span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(rebasing: buffers[id]![0..<count]))
        body(&span)
    }
    func recycle(_ id: UInt16) { recycled.append(id) }
    func armAccept(listener: Int32, userData: UInt64, multishot: Bool) {
        submissions.append(.accept(multishot: multishot, userData: userData))
    }
    func armRecv(slot: UInt32, userData: UInt64) { submissions.append(.recv(slot: slot, userData: userData)) }
    func send(slot: UInt32, from buffer: KernelBuffer, range: Range<Int>, userData: UInt64) {
        let bytes = buffer.withUnsafeMutableBytes { Array($0[range]) }
        submissions.append(.send(slot: slot, bytes: bytes, userData: userData))
    }
    func peerName(slot: UInt32, into buffer: KernelBuffer, at offset: Int, length: Int, userData: UInt64) {
        submissions.append(.peerName(slot: slot))
    }
    func shutdownWrite(slot: UInt32, userData: UInt64) {
        submissions.append(.shutdownWrite(slot: slot))
        shutdowns[slot] = userData
    }
    private var shutdowns: [UInt32: UInt64] = [:]

    /// The kernel's worker finished the shutdown of `slot`'s write side.
    func completeShutdown(_ slot: UInt32) {
        if let data = shutdowns.removeValue(forKey: slot) { completions.append((data, 0, 0)) }
    }
    func cancelAll(fd: Int32, userData: UInt64) { submissions.append(.cancelAll(fd: fd)) }
    func read(fd: Int32, into buffer: KernelBuffer, userData: UInt64) {
        submissions.append(.read(fd: fd))
    }
    func cancel(_ target: UInt64, userData: UInt64) { submissions.append(.cancel(target: target)) }
    func closeDirect(slot: UInt32, userData: UInt64) { submissions.append(.closeDirect(slot: slot)) }
    func message(ringFD: Int32, userData: UInt64) { submissions.append(.message(ringFD: ringFD)) }
    func listenQueueLength(_ listener: Int32) -> UInt32 { 0 }

    // MARK: What the test makes the kernel do

    /// An armed accept takes a connection into `slot`: the multishot one if armed (it stays
    /// armed), else the oldest single-shot one not yet used.
    func accept(into slot: UInt32) {
        var multishot: UInt64?
        var single: Int?
        for (i, s) in submissions.enumerated() {
            guard case .accept(let isMultishot, let data) = s else { continue }
            if isMultishot {
                multishot = data
            } else if single == nil && !usedSingles.contains(i) {
                single = i
            }
        }
        if let multishot {
            completions.append((multishot, Int32(slot), Self.moreFlag))
        } else if let single, case .accept(_, let data) = submissions[single] {
            usedSingles.insert(single)
            completions.append((data, Int32(slot), 0))
        }
    }

    private var usedSingles: Set<Int> = []

    /// The latest receive armed on `slot` (its user_data carries the slot's generation).
    func recvData(_ slot: UInt32) -> UInt64? {
        submissions.reversed().compactMap { s -> UInt64? in
            if case .recv(slot, let data) = s { return data }
            return nil
        }.first
    }

    /// The multishot receive on `slot` delivers `bytes` in a provided buffer.
    func receive(_ bytes: [UInt8], on slot: UInt32, userData: UInt64? = nil) {
        let id = nextBuffer
        nextBuffer += 1
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        buffers[id] = buffer
        completions.append(
            (userData ?? recvData(slot)!, Int32(bytes.count), Self.bufferFlag | Self.moreFlag | UInt32(id) << 16))
    }

    /// The receive on `slot` ends: EOF (0) or an error (a negative errno).
    func endReceive(on slot: UInt32, result: Int32 = 0) {
        completions.append((recvData(slot)!, result, 0))
    }

    /// Sends submitted so far, in order.
    var sends: [(slot: UInt32, bytes: [UInt8], userData: UInt64)] {
        submissions.compactMap { s in
            if case .send(let slot, let bytes, let data) = s { return (slot, bytes, data) }
            return nil
        }
    }

    /// Completes the oldest send not yet completed, with `result` (default: all its bytes).
    func completeSend(result: Int32? = nil) {
        let send = sends[completedSends]
        completedSends += 1
        completions.append((send.userData, result ?? Int32(send.bytes.count), 0))
    }

    /// The last send's bytes as text.
    var lastSent: String { String(decoding: sends.last?.bytes ?? [], as: UTF8.self) }

    /// Sends submitted but not completed.
    var sendsInFlight: Int { sends.count - completedSends }

    func closed(_ slot: UInt32) -> Bool { submissions.contains(.closeDirect(slot: slot)) }
}

@Suite struct FakeRingTests {
    /// A ring loop on a fake kernel, with a hand-set clock and a recording directory.
    final class Rig {
        let ring = FakeRing()
        let clock = ManualClock(1_000_000)
        let directory = BoundedDirectory()
        let loop: URingLoop<FakeRing>

        init() throws {
            let ctx = LoopContext(
                configuration: GatewayConfiguration(), directory: directory, live: LiveAgents(),
                httpSessions: HTTPSessionStore(), registrations: RegistrationLimiter(rate: 0, burst: 1), loopIndex: 0,
                clock: clock)
            let rings = RingSet(capacity: 1_000, maxRings: 1)
            loop = try URingLoop(index: 0, listener: -1, files: 1_024, rings: rings, context: ctx, kernel: ring)
            _ = rings.register(ringFD: ring.ringFD)
            loop.start()
        }

        /// One pass of the loop over what the fake kernel completed.
        @discardableResult
        func turn() -> Bool { loop.turn() }

        /// Accepts a connection into `slot` and upgrades it to WebSocket (send completed).
        func upgradedAgent(slot: UInt32) {
            ring.accept(into: slot)
            turn()
            ring.receive(Array(ConnectionMachineTests.upgradeRequest.utf8), on: slot)
            turn()
            ring.completeSend()
            turn()
        }
    }

    @Test func anAgentIsServedAndItsSlotFreedWhenItLeaves() throws {
        let rig = try Rig()
        #expect(rig.ring.submissions.contains { if case .accept = $0 { true } else { false } })
        rig.ring.accept(into: 3)
        rig.turn()
        #expect(rig.ring.submissions.contains(.peerName(slot: 3)), "the peer's address is read before its bytes")
        #expect(rig.ring.recvData(3) != nil)
        rig.ring.receive(Array(ConnectionMachineTests.upgradeRequest.utf8), on: 3)
        rig.turn()
        #expect(rig.ring.lastSent.hasPrefix("HTTP/1.1 101"))
        rig.ring.completeSend()
        rig.turn()
        let hello = [0] + agentMessage(testUID(1)).serializedBytes()
        rig.ring.receive(clientFrame(opcode: 0x2, hello), on: 3)
        rig.turn()
        #expect(serverMessages(rig.ring.sends.last?.bytes ?? []).first?.instanceUid == testUID(1).bytes)
        #expect(rig.ring.recycled.count == 2, "every provided buffer goes back to the kernel")
        rig.ring.completeSend()
        rig.ring.endReceive(on: 3)
        rig.turn()
        #expect(rig.ring.closed(3))
        #expect(rig.directory.records.contains { $0.instanceUID == testUID(1) && $0.disconnected })
        #expect(rig.loop.ctx.activeConnections == 0)
        #expect(rig.loop.ctx.counters.closed == 1)
    }

    /// A loop that goes away frees its pooled send buffers and its mailbox's wake buffer: both
    /// leaked with every stopped ring until the AddressSanitizer run (scripts/sanitize.sh)
    /// reported them, and LeakSanitizer reports them again if they stop being freed.
    @Test func aLoopThatGoesAwayFreesItsBuffers() throws {
        var rig: Rig? = try Rig()
        rig?.upgradedAgent(slot: 3)
        #expect(rig?.loop.sendPool.count == 1, "the 101's buffer went back to the pool")
        weak let loop = rig?.loop
        rig = nil
        #expect(loop == nil, "nothing else holds the loop, so its deinit ran")
    }

    /// The kernel may still read a send buffer until the send completes: a connection reset
    /// meanwhile cancels the send, and the slot (and buffer) are released only on its completion.
    @Test func aSlotIsNotReleasedWhileItsSendIsInFlight() throws {
        let rig = try Rig()
        rig.ring.accept(into: 5)
        rig.turn()
        rig.ring.receive(Array(ConnectionMachineTests.upgradeRequest.utf8), on: 5)
        rig.turn()
        #expect(rig.ring.sendsInFlight == 1)
        rig.ring.endReceive(on: 5, result: -104)  // ECONNRESET
        rig.turn()
        #expect(rig.ring.submissions.contains(.cancel(target: rig.ring.sends[0].userData)))
        #expect(!rig.ring.closed(5), "the send is still in flight")
        rig.ring.completeSend(result: -125)  // ECANCELED
        rig.turn()
        #expect(rig.ring.closed(5))
    }

    /// Our close waits for the last reply to be sent, then shuts the write side, then waits for
    /// the peer's EOF: closing with unread input would reset the connection and lose the reply.
    @Test func aCloseSendsTheLastReplyShutsTheWriteSideThenWaitsForEOF() throws {
        let rig = try Rig()
        rig.ring.accept(into: 2)
        rig.turn()
        rig.ring.receive(Array("GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8), on: 2)
        rig.turn()
        #expect(rig.ring.lastSent.hasPrefix("HTTP/1.1 404"))
        #expect(!rig.ring.submissions.contains(.shutdownWrite(slot: 2)), "not before the reply is sent")
        rig.ring.completeSend()
        rig.turn()
        #expect(rig.ring.submissions.contains(.shutdownWrite(slot: 2)))
        #expect(!rig.ring.closed(2))
        rig.ring.endReceive(on: 2)
        rig.turn()
        // The kernel runs the shutdown on a worker and finds the socket by slot when it runs:
        // freed before, the slot could hold the next connection, whose write side it would shut.
        #expect(!rig.ring.closed(2), "not while the shutdown is in flight")
        rig.ring.completeShutdown(2)
        rig.turn()
        #expect(rig.ring.closed(2))
    }

    /// A peer that never closes after our shutdown is released at the drain limit.
    @Test func aPeerThatNeverClosesIsReleasedAtTheDrainLimit() throws {
        let rig = try Rig()
        rig.ring.accept(into: 2)
        rig.turn()
        rig.ring.receive(Array("GET /nope HTTP/1.0\r\nHost: t\r\n\r\n".utf8), on: 2)
        rig.turn()
        rig.ring.completeSend()
        rig.turn()
        rig.clock.set(1_000_000 + ConnectionMachine.drainMilliseconds + 300)
        rig.turn()
        #expect(rig.ring.submissions.contains(.cancel(target: rig.ring.recvData(2)!)), "the receive is cancelled")
        rig.ring.endReceive(on: 2, result: -125)
        rig.ring.completeShutdown(2)
        rig.turn()
        #expect(rig.ring.closed(2))
    }

    /// A completion for an earlier connection in a reused slot must not reach the new one.
    @Test func aCompletionForAnEarlierConnectionInTheSlotIsIgnored() throws {
        let rig = try Rig()
        rig.upgradedAgent(slot: 4)
        let stale = rig.ring.recvData(4)!
        rig.ring.endReceive(on: 4)
        rig.turn()
        #expect(rig.ring.closed(4))
        rig.ring.accept(into: 4)
        rig.turn()
        #expect(rig.ring.recvData(4) != stale, "the slot's generation moved on")
        let sends = rig.ring.sends.count
        rig.ring.receive(Array(ConnectionMachineTests.upgradeRequest.utf8), on: 4, userData: stale)
        rig.turn()
        #expect(rig.ring.sends.count == sends, "the stale bytes were not taken as the new connection's")
        #expect(rig.ring.recycled.count == 2, "but their buffer went back to the kernel")
    }

    /// A stop closes WebSocket agents with 1001, takes nothing more from the listener, and ends
    /// the loop once every connection is released.
    @Test func aStopSays1001ReleasesEveryoneAndEndsTheLoop() throws {
        let rig = try Rig()
        rig.upgradedAgent(slot: 1)
        rig.loop.mailbox.requestStop()
        #expect(rig.turn())
        #expect(closeCode(rig.ring.sends.last?.bytes ?? []) == 1001)
        #expect(rig.ring.submissions.contains(.cancelAll(fd: -1)), "the listener's accept is cancelled")
        rig.ring.completeSend()
        #expect(rig.turn())
        #expect(rig.ring.submissions.contains(.shutdownWrite(slot: 1)))
        rig.ring.endReceive(on: 1)
        rig.ring.completeShutdown(1)
        #expect(!rig.turn(), "the loop ends with its last connection")
        #expect(rig.ring.closed(1))
    }
}
