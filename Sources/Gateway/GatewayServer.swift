import CLinux
import Core
import GatewayCore
import Glibc
import Synchronization

/// Which I/O engine runs the event loops.
public enum IOEngine: String, Sendable, CaseIterable {
    /// io_uring where the kernel and seccomp allow it, else epoll.
    case auto
    /// io_uring only.
    case uring
    /// epoll only.
    case epoll
}

/// The agent-facing server: N event loops sharing one port through SO_REUSEPORT.
///
/// Safe to send: `start()` sets the engine fields before any other thread may call in, and
/// afterwards the mutable lists (rings, threads) are read and changed under `loopsLock` only.
public final class GatewayServer: @unchecked Sendable {
    private var configuration: GatewayConfiguration
    private let address: SocketAddress
    private let loopCount: Int
    private let requestedEngine: IOEngine
    private let directory: any AgentDirectory
    private let live = LiveAgents()
    private let httpSessions = HTTPSessionStore()
    private let registrations: RegistrationLimiter
    private var epollLoops: [EpollLoop<EpollSystem>] = []
    private var uringLoops: [URingLoop<URing>] = []
    private var sharedListener: Int32 = -1
    private var threads: [pthread_t] = []
    private let loopsLock = Lock()
    private var ringSet: RingSet?
    private let stopping = Atomic<Bool>(false)

    /// The engine actually running, once started.
    public private(set) var engine: IOEngine = .epoll
    /// Why `auto` did not pick io_uring, or how the rings were set up, for the start-up log.
    public private(set) var engineNote = ""
    /// The bound port (useful when listening on port 0).
    public private(set) var port: UInt16 = 0
    /// Registered-file slots per ring (agents one io_uring loop can hold).
    public private(set) var slotsPerRing = 0
    /// io_uring rings running now (they grow as they fill).
    public var ringCount: Int { loopsLock.withLock { uringLoops.count } }

    /// A server that is not listening yet.
    public init(
        configuration: GatewayConfiguration = GatewayConfiguration(), address: SocketAddress, loops: Int,
        engine: IOEngine = .auto, directory: any AgentDirectory
    ) {
        self.configuration = configuration
        self.address = address
        self.loopCount = max(1, loops)
        self.requestedEngine = engine
        self.directory = directory
        self.registrations = RegistrationLimiter(
            rate: configuration.registrationsPerSecond, burst: configuration.registrationBurst)
    }

    /// Binds the listeners and starts the loop threads.
    public func start() throws(SystemError) {
        // A peer that vanished must give EPIPE on write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let files = Self.raiseFileLimit()
        switch requestedEngine {
        case .epoll:
            try startEpoll(files: files)
        case .uring:
            try startURing(files: files)
        case .auto:
            if let reason = URing.probe() {
                engineNote = "io_uring unavailable (\(reason)), using epoll"
                try startEpoll(files: files)
            } else {
                try startURing(files: files)
            }
        }
    }

    /// Raises the soft open-file limit to the hard one; returns the registered-file slots a
    /// ring may use (the kernel bounds each ring's table by this limit).
    private static func raiseFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(min(limit.rlim_cur, 1 << 20)) - 256
    }

    private func startEpoll(files: Int) throws(SystemError) {
        engine = .epoll
        // Every epoll agent costs a descriptor: stop short of the limit by what others need.
        configuration.epollConnectionsPerLoop = max(64, (files - configuration.reservedDescriptors) / loopCount)
        var boundAddress = address
        if address.port == 0 {
            // Take a port no other listener holds (see Listener.open), then share it between loops.
            let probe = try Listener.open(address, backlog: 1)
            boundAddress = try SocketAddress(host: address.host, port: Listener.boundPort(probe))
            Sys.close(probe)
        }
        for i in 0..<loopCount {
            let context = LoopContext(
                configuration: configuration, directory: directory, live: live, httpSessions: httpSessions,
                registrations: registrations, loopIndex: i, clock: SystemClock()
            )
            let loop = try EpollLoop(index: i, address: boundAddress, context: context, kernel: EpollSystem())
            epollLoops.append(loop)
        }
        port = epollLoops[0].boundPort
        for loop in epollLoops {
            threads.append(try LoopThread.spawn(name: "ampora-epoll-\(loop.index)") { loop.run() })
        }
    }

    private func startURing(files: Int) throws(SystemError) {
        engine = .uring
        // One listener shared by every ring: a ring that stops accepting leaves the queue to the others.
        sharedListener = try Listener.open(address)
        port = Listener.boundPort(sharedListener)
        slotsPerRing = max(64, configuration.slotsPerRing ?? files)
        let headroom = max(32, slotsPerRing / 64)
        let rings = RingSet(capacity: slotsPerRing - headroom, maxRings: max(loopCount, configuration.maxRings))
        ringSet = rings
        rings.grow = { [weak self] in self?.addRing() }
        for _ in 0..<loopCount { try startRing() }
        engineNote =
            "\(loopCount) rings × \(slotsPerRing) registered-file slots, growing to \(rings.maxRings) rings as they fill (\(uringLoops[0].uring.flagsNote))"
    }

    private func startRing() throws(SystemError) {
        guard let rings = ringSet else { return }
        let index = loopsLock.withLock { uringLoops.count }
        let context = LoopContext(
            configuration: configuration, directory: directory, live: live, httpSessions: httpSessions,
            registrations: registrations, loopIndex: index, clock: SystemClock())
        let loop = try URingLoop(
            index: index, listener: sharedListener, files: slotsPerRing, rings: rings, context: context,
            kernel: URing(files: UInt32(slotsPerRing)))
        let registered = rings.register(ringFD: loop.uring.ringFD)
        // Checked and appended under the lock that stop() takes, so a ring cannot be added
        // after stop() took its list of rings to stop and join.
        var failure: SystemError?
        loopsLock.withLock {
            guard !stopping.load(ordering: .acquiring) else {
                rings.retire(registered)
                return
            }
            do {
                let thread = try LoopThread.spawn(name: "ampora-uring-\(index)") { loop.run() }
                uringLoops.append(loop)
                threads.append(thread)
            } catch {
                rings.retire(registered)
                failure = error as? SystemError ?? SystemError(call: "pthread_create", errno: EAGAIN)
            }
        }
        if let failure { throw failure }
    }

    /// Called from a loop thread when every ring is full.
    private func addRing() {
        do {
            try startRing()
        } catch {
            // Out of memory or threads: the full rings keep serving; new agents wait in the
            // backlog, and growth is tried again when a ring next fills.
            ringSet?.growthFailed()
        }
    }

    /// Stops accepting, closes agents with 1001, and waits for the loops to finish.
    public func stop() {
        let (rings, ringThreads) = loopsLock.withLock {
            stopping.store(true, ordering: .releasing)
            return (uringLoops, threads)
        }
        for loop in epollLoops { loop.mailbox.requestStop() }
        for loop in rings { loop.mailbox.requestStop() }
        for thread in ringThreads { LoopThread.join(thread) }
        loopsLock.withLock { threads = [] }
        if sharedListener >= 0 {
            Sys.close(sharedListener)
            sharedListener = -1
        }
    }

    /// Offers the agent `uid` what the directory now wants for it, if it is connected over
    /// WebSocket (plain-HTTP agents get it in their next poll). Returns false when no loop holds it.
    @discardableResult
    public func push(_ uid: InstanceUID) -> Bool {
        guard let token = live.owner(of: uid) else { return false }
        let loop = ConnectionToken.loop(token)
        let message = LoopMessage.push(uid, slot: ConnectionToken.slot(token))
        let rings = loopsLock.withLock { uringLoops }
        if loop < rings.count { rings[loop].mailbox.post(message) }
        if loop < epollLoops.count { epollLoops[loop].mailbox.post(message) }
        return true
    }

    /// Offers every connected WebSocket agent what the directory now wants for it.
    public func pushAll() {
        for loop in loopsLock.withLock({ uringLoops }) { loop.mailbox.post(.pushAll) }
        for loop in epollLoops { loop.mailbox.post(.pushAll) }
    }

    /// Counters summed over the loops (read without stopping them; values may be a tick old).
    public var counters: GatewayCounters {
        var total = GatewayCounters()
        for loop in epollLoops { total.add(loop.published.value) }
        for loop in loopsLock.withLock({ uringLoops }) { total.add(loop.published.value) }
        return total
    }
}
