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

/// What other threads may reach of a running loop: its mailbox and its published counters.
/// The loop object itself belongs to its thread alone.
struct LoopHandle: Sendable {
    let mailbox: Mailbox
    let published: PublishedCounters
}

/// The agent-facing server: N event loops sharing one port (SO_REUSEPORT listeners for epoll,
/// one shared listener for io_uring rings). Each loop object is handed to its thread and never
/// touched by another; the server keeps only the loops' `LoopHandle`s, in `state`.
public final class GatewayServer: Sendable {
    struct State {
        var configuration: GatewayConfiguration
        var epollLoops: [LoopHandle] = []
        /// By the index `RingSet.register` gave each ring (a connection token's loop number);
        /// nil for a ring that did not start.
        var rings: [LoopHandle?] = []
        var sharedListener: Int32 = -1
        var threads: [pthread_t] = []
        var ringSet: RingSet?
        var stopping = false
        /// Rings admitted whose thread is not on `threads` yet.
        var spawning = 0
        var engine: IOEngine = .epoll
        var engineNote = ""
        var port: UInt16 = 0
        var slotsPerRing = 0
    }

    private let address: SocketAddress
    private let loopCount: Int
    private let requestedEngine: IOEngine
    private let directory: any AgentDirectory
    let live: LiveAgents
    let httpSessions: HTTPSessionStore
    private let registrations: RegistrationLimiter
    /// Added to this server's loop numbers (in `LoopContext.loopIndex` and connection tokens),
    /// so two servers in one process (plain and TLS listeners) share the tables below without
    /// mixing up their loops.
    let loopBase: Int
    let state: Mutex<State>

    /// The engine actually running, once started.
    public var engine: IOEngine { state.withLock { $0.engine } }
    /// Why `auto` did not pick io_uring, or how the rings were set up, for the start-up log.
    public var engineNote: String { state.withLock { $0.engineNote } }
    /// The bound port (useful when listening on port 0).
    public var port: UInt16 { state.withLock { $0.port } }
    /// Registered-file slots per ring (agents one io_uring loop can hold).
    public var slotsPerRing: Int { state.withLock { $0.slotsPerRing } }
    /// io_uring rings running now (they grow as they fill).
    public var ringCount: Int { state.withLock { $0.rings.count { $0 != nil } } }

    /// A server that is not listening yet.
    public init(
        configuration: GatewayConfiguration = GatewayConfiguration(), address: SocketAddress, loops: Int,
        engine: IOEngine = .auto, directory: any AgentDirectory, companion: GatewayServer? = nil
    ) {
        self.state = Mutex(State(configuration: configuration))
        // A companion (the other listener of the same process) shares which connection holds
        // which uid, plain-HTTP sessions and registration buckets.
        self.live = companion?.live ?? LiveAgents()
        self.httpSessions = companion?.httpSessions ?? HTTPSessionStore()
        self.loopBase = companion.map { $0.loopBase + 1024 } ?? 0
        self.address = address
        self.loopCount = max(1, loops)
        self.requestedEngine = engine
        self.directory = directory
        self.registrations =
            companion?.registrations
            ?? RegistrationLimiter(rate: configuration.registrationsPerSecond, burst: configuration.registrationBurst)
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
                try startEpoll(files: files)
                state.withLock { $0.engineNote = "io_uring unavailable (\(reason)), using epoll" }
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

    private func context(_ configuration: GatewayConfiguration, loop: Int) -> LoopContext {
        LoopContext(
            configuration: configuration, directory: directory, live: live, httpSessions: httpSessions,
            registrations: registrations, loopIndex: loopBase + loop, clock: SystemClock())
    }

    private func startEpoll(files: Int) throws(SystemError) {
        // Every epoll agent costs a descriptor: stop short of the limit by what others need.
        let configuration = state.withLock { s in
            s.engine = .epoll
            s.configuration.epollConnectionsPerLoop = max(64, (files - s.configuration.reservedDescriptors) / loopCount)
            return s.configuration
        }
        var boundAddress = address
        if address.port == 0 {
            // Take a port no other listener holds (see Listener.open), then share it between loops.
            let probe = try Listener.open(address, backlog: 1)
            boundAddress = try SocketAddress(host: address.host, port: Listener.boundPort(probe))
            Sys.close(probe)
        }
        var handles: [LoopHandle] = []
        var threads: [pthread_t] = []
        var port: UInt16 = 0
        do throws(SystemError) {
            for i in 0..<loopCount {
                let loop = try EpollLoop(
                    index: i, address: boundAddress, context: context(configuration, loop: i), kernel: EpollSystem())
                if i == 0 { port = loop.boundPort }
                handles.append(LoopHandle(mailbox: loop.mailbox, published: loop.published))
                threads.append(try LoopThread.spawn(name: "ampora-epoll-\(i)", running: loop))
            }
        } catch {
            // Leave nothing running behind a failed start.
            for handle in handles.prefix(threads.count) { handle.mailbox.requestStop() }
            for thread in threads { LoopThread.join(thread) }
            throw error
        }
        state.withLock { s in
            s.port = port
            s.epollLoops = handles
            s.threads += threads
        }
    }

    private func startURing(files: Int) throws(SystemError) {
        // One listener shared by every ring: a ring that stops accepting leaves the queue to the others.
        let listener = try Listener.open(address)
        let slots = state.withLock { s in
            s.engine = .uring
            s.sharedListener = listener
            s.port = Listener.boundPort(listener)
            s.slotsPerRing = max(64, s.configuration.slotsPerRing ?? files)
            return s.slotsPerRing
        }
        let headroom = max(32, slots / 64)
        let maxRings = max(loopCount, state.withLock { $0.configuration.maxRings })
        let rings = RingSet(capacity: slots - headroom, maxRings: maxRings)
        state.withLock { $0.ringSet = rings }
        rings.grow = { [weak self] in self?.addRing() }
        var flags = ""
        for _ in 0..<loopCount { flags = try startRing() }
        state.withLock {
            $0.engineNote =
                "\(loopCount) rings × \(slots) registered-file slots, growing to \(rings.maxRings) rings as they fill (\(flags))"
        }
    }

    /// Starts one more ring; returns its setup flags (for the start-up log).
    @discardableResult
    private func startRing() throws(SystemError) -> String {
        let (rings, listener, slots, configuration) = state.withLock {
            ($0.ringSet, $0.sharedListener, $0.slotsPerRing, $0.configuration)
        }
        guard let rings else { return "" }
        let kernel = try URing(files: UInt32(slots))
        let flags = kernel.flagsNote
        // The ring's number comes from the one place that hands them out, atomically: a full
        // ring may ask for growth while the ring before it is still being listed.
        let registered = rings.register(ringFD: kernel.ringFD)
        let index = registered
        let loop: URingLoop<URing>
        do throws(SystemError) {
            loop = try URingLoop(
                index: index, listener: listener, files: slots, rings: rings,
                context: context(configuration, loop: index), kernel: kernel)
        } catch {
            rings.retire(registered)
            throw error
        }
        let handle = LoopHandle(mailbox: loop.mailbox, published: loop.published)
        // Admitted under the lock stop() takes, and counted until the thread is on the list, so
        // stop() (which waits for that count to drop) stops and joins every ring it let start.
        let admitted = state.withLock { s in
            if !s.stopping { s.spawning += 1 }
            return !s.stopping
        }
        guard admitted else {
            rings.retire(registered)
            return flags
        }
        do throws(SystemError) {
            let thread = try LoopThread.spawn(name: "ampora-uring-\(index)", running: loop)
            state.withLock { s in
                s.threads.append(thread)
                if s.rings.count <= index { s.rings += Array(repeating: nil, count: index + 1 - s.rings.count) }
                s.rings[index] = handle
                s.spawning -= 1
            }
        } catch {
            rings.retire(registered)
            state.withLock { $0.spawning -= 1 }
            throw error
        }
        return flags
    }

    /// Called from a loop thread when every ring is full.
    private func addRing() {
        do {
            try startRing()
        } catch {
            // Out of memory or threads: the full rings keep serving; new agents wait in the
            // backlog, and growth is tried again when a ring next fills.
            state.withLock { $0.ringSet }?.growthFailed()
        }
    }

    /// Stops accepting, closes agents with 1001, and waits for the loops to finish.
    public func stop() {
        state.withLock { $0.stopping = true }
        // A ring admitted just before may still be starting its thread: wait for it to be listed.
        while state.withLock({ $0.spawning > 0 }) { sched_yield() }
        let (loops, threads) = state.withLock { s in
            defer { s.threads = [] }
            return (s.epollLoops + s.rings.compactMap { $0 }, s.threads)
        }
        for loop in loops { loop.mailbox.requestStop() }
        for thread in threads { LoopThread.join(thread) }
        state.withLock { s in
            if s.sharedListener >= 0 {
                Sys.close(s.sharedListener)
                s.sharedListener = -1
            }
        }
    }
}
