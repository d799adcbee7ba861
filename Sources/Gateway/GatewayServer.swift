import CLinux
import Core
import Glibc

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
public final class GatewayServer: @unchecked Sendable {
    private let configuration: GatewayConfiguration
    private let address: SocketAddress
    private let loopCount: Int
    private let requestedEngine: IOEngine
    private let directory: any AgentDirectory
    private let live = LiveAgents()
    private var loops: [EpollLoop] = []
    private var threads: [pthread_t] = []

    /// The engine actually running, once started.
    public private(set) var engine: IOEngine = .epoll
    /// Why `auto` did not pick io_uring, for the start-up log.
    public private(set) var engineNote = ""
    /// The bound port (useful when listening on port 0).
    public private(set) var port: UInt16 = 0

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
    }

    /// Binds the listeners and starts the loop threads.
    public func start() throws(SystemError) {
        // A peer that vanished must give EPIPE on write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        switch requestedEngine {
        case .uring:
            throw SystemError(call: "io_uring engine (not built yet; use --io epoll)", errno: ENOSYS)
        case .auto:
            engineNote = "io_uring engine not built yet"
        case .epoll:
            break
        }
        engine = .epoll
        var boundAddress = address
        for i in 0..<loopCount {
            let context = LoopContext(configuration: configuration, directory: directory, live: live, loopIndex: i)
            let loop = try EpollLoop(index: i, address: boundAddress, context: context)
            if i == 0 && address.port == 0 {
                // Every loop must share the kernel-chosen port.
                boundAddress = try SocketAddress(host: address.host, port: loop.boundPort)
            }
            loops.append(loop)
        }
        port = loops[0].boundPort
        for loop in loops {
            threads.append(try LoopThread.spawn(name: "ampora-loop-\(loop.index)") { loop.run() })
        }
    }

    /// Stops accepting, closes agents with 1001, and waits for the loops to finish.
    public func stop() {
        for loop in loops { loop.requestStop() }
        for thread in threads { LoopThread.join(thread) }
        threads = []
    }

    /// Counters summed over the loops (read without stopping them; values may be a tick old).
    public var counters: GatewayCounters {
        var total = GatewayCounters()
        for loop in loops { total.add(loop.publishedCounters) }
        return total
    }
}
