import CLinux
import Core
import Glibc
import Testing

@testable import Gateway
@testable import GatewayCore

/// A kernel for the epoll driver that holds no socket: the test queues connections, input,
/// EOFs and how much each socket can take, and reads back what the driver wrote, shut and
/// closed, and which descriptors it watched for what.
final class FakePoll: PollKernel {
    static let epfd: Int32 = 100
    static let listener: Int32 = 101

    /// Watched descriptors: events and token.
    var interest: [Int32: (events: UInt32, token: UInt64)] = [:]
    var pendingAccepts: [(fd: Int32, source: UInt64)] = []
    /// The errno the next accept fails with, once.
    var acceptError: Int32?
    var inputs: [Int32: [[UInt8]]] = [:]
    var eof: Set<Int32> = []
    /// Bytes a socket takes before it is full (absent: no limit).
    var room: [Int32: Int] = [:]
    var written: [Int32: [UInt8]] = [:]
    var shut: Set<Int32> = []
    var closed: Set<Int32> = []
    private var ready: [(fd: Int32, flags: UInt32)] = []

    func createPoll() throws(SystemError) -> Int32 { Self.epfd }
    func listen(_ address: SocketAddress) throws(SystemError) -> Int32 { Self.listener }
    func boundPort(_ listener: Int32) -> UInt16 { 0 }

    func control(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Int32 {
        if op == EPOLL_CTL_DEL {
            interest[fd] = nil
        } else {
            interest[fd] = (events, token)
        }
        return 0
    }

    func wait(_ epfd: Int32, _ events: inout [epoll_event], timeout: Int32) -> Int {
        var n = 0
        for (fd, flags) in ready {
            guard let watched = interest[fd], watched.events & flags != 0 else { continue }
            events[n].events = flags & watched.events | flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue)
            events[n].data.u64 = watched.token
            n += 1
        }
        ready = []
        return n
    }

    func accept(_ listener: Int32, source: inout UInt64) -> Int32 {
        if let error = acceptError {
            acceptError = nil
            return -error
        }
        guard !pendingAccepts.isEmpty else { return -EAGAIN }
        let next = pendingAccepts.removeFirst()
        source = next.source
        return next.fd
    }

    func setNoDelay(_ fd: Int32) {}

    func read(_ fd: Int32, into buffer: KernelBuffer) -> Int {
        if var queued = inputs[fd], !queued.isEmpty {
            let chunk = queued.removeFirst()
            inputs[fd] = queued
            buffer.store(chunk)
            return chunk.count
        }
        return eof.contains(fd) ? 0 : -Int(EAGAIN)
    }

    func write(_ fd: Int32, _ bytes: RawSpan) -> Int {
        let n = min(bytes.byteCount, room[fd] ?? .max)
        if n == 0 && bytes.byteCount > 0 { return -Int(EAGAIN) }
        written[fd, default: []] += bytes.extracting(0..<n).withUnsafeBytes { Array($0) }
        if let left = room[fd] { room[fd] = left - n }
        return n
    }

    func shutdownWrite(_ fd: Int32) { shut.insert(fd) }
    func close(_ fd: Int32) { closed.insert(fd) }

    // MARK: What the test makes the kernel do

    /// A connection arrives on the listener.
    func connect(_ fd: Int32) {
        pendingAccepts.append((fd, UInt64(fd)))
        ready.append((Self.listener, EPOLLIN.rawValue))
    }

    /// The peer sends `bytes`.
    func send(_ bytes: [UInt8], on fd: Int32) {
        inputs[fd, default: []].append(bytes)
        ready.append((fd, EPOLLIN.rawValue))
    }

    /// The peer closes its side.
    func hangUp(_ fd: Int32) {
        eof.insert(fd)
        ready.append((fd, EPOLLIN.rawValue | EPOLLRDHUP.rawValue))
    }

    /// The socket can take `bytes` more.
    func drain(_ fd: Int32, room bytes: Int = .max) {
        room[fd] = bytes
        ready.append((fd, EPOLLOUT.rawValue))
    }

    /// Another thread wrote the mailbox's eventfd.
    func wake(_ wakeFD: Int32) { ready.append((wakeFD, EPOLLIN.rawValue)) }

    func text(_ fd: Int32) -> String { String(decoding: written[fd] ?? [], as: UTF8.self) }
    func watchesWrites(_ fd: Int32) -> Bool { (interest[fd]?.events ?? 0) & EPOLLOUT.rawValue != 0 }
}

@Suite struct FakePollTests {
    /// An epoll loop on a fake kernel, with a hand-set clock and a recording directory.
    final class Rig {
        let kernel = FakePoll()
        let clock = ManualClock(1_000_000)
        let directory = BoundedDirectory()
        let loop: EpollLoop<FakePoll>

        init(_ configuration: GatewayConfiguration = GatewayConfiguration()) throws {
            var configuration = configuration
            configuration.epollConnectionsPerLoop = 1_000
            let ctx = LoopContext(
                configuration: configuration, directory: directory, live: LiveAgents(),
                httpSessions: HTTPSessionStore(), registrations: RegistrationLimiter(rate: 0, burst: 1), loopIndex: 0,
                clock: clock)
            loop = try EpollLoop(
                index: 0, address: try SocketAddress(host: "127.0.0.1", port: 0), context: ctx, kernel: kernel)
        }

        @discardableResult
        func turn() -> Bool { loop.turn() }

        func upgrade(_ fd: Int32) {
            kernel.connect(fd)
            turn()
            kernel.send(Array(ConnectionMachineTests.upgradeRequest.utf8), on: fd)
            turn()
        }
    }

    @Test func anAgentIsServedAndItsDescriptorClosedWhenItLeaves() throws {
        let rig = try Rig()
        rig.upgrade(10)
        #expect(rig.kernel.text(10).hasPrefix("HTTP/1.1 101"))
        rig.kernel.written[10] = []
        rig.kernel.send(clientFrame(opcode: 0x2, [0] + agentMessage(testUID(1)).serializedBytes()), on: 10)
        rig.turn()
        #expect(serverMessages(rig.kernel.written[10] ?? []).first?.instanceUid == testUID(1).bytes)
        rig.kernel.hangUp(10)
        rig.turn()
        #expect(rig.kernel.closed.contains(10))
        #expect(rig.directory.records.contains { $0.instanceUID == testUID(1) && $0.disconnected })
        #expect(rig.loop.ctx.activeConnections == 0)
    }

    /// What a socket does not take is queued in the connection and written when the kernel
    /// says it is writable; write interest is on only while something waits.
    @Test func aSlowReaderGetsTheRestWhenItsSocketDrains() throws {
        let rig = try Rig()
        rig.kernel.connect(11)
        rig.turn()
        rig.kernel.room[11] = 5
        rig.kernel.send(Array(ConnectionMachineTests.upgradeRequest.utf8), on: 11)
        rig.turn()
        #expect(rig.kernel.text(11) == "HTTP/")
        #expect(rig.kernel.watchesWrites(11))
        rig.kernel.drain(11)
        rig.turn()
        #expect(rig.kernel.text(11).hasPrefix("HTTP/1.1 101"))
        #expect(rig.kernel.text(11).hasSuffix("\r\n\r\n"))
        #expect(!rig.kernel.watchesWrites(11))
    }

    /// A close waits for queued bytes, then shuts the write side, then waits for the peer's EOF.
    @Test func aCloseFlushesThenShutsTheWriteSideThenWaitsForEOF() throws {
        let rig = try Rig()
        rig.kernel.connect(12)
        rig.turn()
        rig.kernel.room[12] = 5
        rig.kernel.send(Array("GET /nope HTTP/1.0\r\nHost: t\r\n\r\n".utf8), on: 12)
        rig.turn()
        #expect(!rig.kernel.shut.contains(12), "not before the reply is out")
        rig.kernel.drain(12)
        rig.turn()
        #expect(rig.kernel.text(12).hasPrefix("HTTP/1.1 404"))
        #expect(rig.kernel.shut.contains(12))
        #expect(!rig.kernel.closed.contains(12))
        rig.kernel.send(Array("ignored".utf8), on: 12)
        rig.turn()
        #expect(!rig.kernel.text(12).contains("400"), "input after our close is drained, not parsed")
        rig.kernel.hangUp(12)
        rig.turn()
        #expect(rig.kernel.closed.contains(12))
    }

    @Test func aConsumerOverTheSendBoundIsDisconnected() throws {
        var configuration = GatewayConfiguration()
        configuration.maxPendingSendBytes = 16
        let rig = try Rig(configuration)
        rig.kernel.connect(13)
        rig.turn()
        rig.kernel.room[13] = 0
        rig.kernel.send(Array(ConnectionMachineTests.upgradeRequest.utf8), on: 13)
        rig.turn()
        #expect(rig.kernel.closed.contains(13))
        #expect(rig.loop.ctx.counters.slowConsumers == 1)
    }

    /// Out of descriptors, the loop stops watching the listener (level-triggered, it would spin)
    /// and watches it again at the next tick.
    @Test func runningOutOfDescriptorsPausesAcceptingUntilTheNextTick() throws {
        let rig = try Rig()
        #expect(rig.kernel.interest[FakePoll.listener] != nil)
        rig.turn()  // the first tick
        rig.clock.set(1_000_000 + 100)
        rig.kernel.acceptError = EMFILE
        rig.kernel.connect(14)
        rig.turn()
        #expect(rig.kernel.interest[FakePoll.listener] == nil)
        #expect(!rig.kernel.closed.contains(14))
        rig.clock.set(1_000_000 + 300)
        rig.turn()
        #expect(rig.kernel.interest[FakePoll.listener] != nil)
        #expect(rig.loop.ctx.activeConnections == 1, "the waiting connection was taken on resuming")
    }

    @Test func aStopSays1001ClosesTheListenerAndEndsTheLoop() throws {
        let rig = try Rig()
        rig.upgrade(15)
        rig.kernel.written[15] = []
        rig.loop.mailbox.requestStop()
        rig.kernel.wake(rig.loop.mailbox.wakeFD)
        #expect(rig.turn())
        #expect(closeCode(rig.kernel.written[15] ?? []) == 1001)
        #expect(rig.kernel.closed.contains(FakePoll.listener))
        #expect(rig.kernel.shut.contains(15))
        rig.kernel.hangUp(15)
        #expect(!rig.turn(), "the loop ends with its last connection")
        #expect(rig.kernel.closed.contains(15))
    }
}
