import Fleet
import Foundation
import Gateway
import Logging
import ServiceLifecycle
import Synchronization
import Web

/// The fleet's ingest and writer threads. It is the group's first service, so it is shut down
/// last (the group goes in reverse order): by then the gateway and the operator API have stopped
/// handing it changes, and everything pending is written before the process exits.
struct FleetLifecycle: Service {
    let fleet: FleetService
    let logger: Logger

    func run() async {
        Signals.blockTermination()
        fleet.start()
        // Cancelled instead (another part failed to start): everything is written all the same.
        try? await gracefulShutdown()
        let flushed = await Blocking.run { fleet.stop() }
        fleet.close()
        if flushed {
            logger.info("stopped; every change written")
        } else {
            logger.warning("stopped; some changes were not written")
        }
    }
}

/// The agent-facing engine: listens until the group shuts down, then closes WebSocket agents
/// with 1001. It is the group's last service, so it is the first to stop.
struct GatewayLifecycle: Service {
    let gateway: GatewayServer
    let host: String
    /// The server that speaks TLS and its host (the ready line says where): `gateway` itself
    /// with --tls-cert alone, a second server with --opamp-tls-listen.
    let tls: (server: GatewayServer, host: String)?
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        Signals.blockTermination()
        let companion = tls.flatMap { $0.server === gateway ? nil : $0.server }
        do {
            try gateway.start()
            try companion?.start()
        } catch {
            companion?.stop()
            gateway.stop()
            throw error
        }
        let note = gateway.engineNote.isEmpty ? "" : " (\(gateway.engineNote))"
        logger.info("io=\(gateway.engine.rawValue)\(note)")
        func shown(_ host: String, _ port: UInt16) -> String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }
        readiness.gatewayListening(
            shown(host, gateway.port), io: gateway.engine.rawValue, tls: tls.map { shown($0.host, $0.server.port) })
        try? await gracefulShutdown()
        readiness.stopAccepting()
        await Blocking.run {
            companion?.stop()
            gateway.stop()
        }
    }
}

/// The operator API (Hummingbird): its server shuts down gracefully with the group.
struct OperatorAPIService: Service {
    let api: OperatorAPI
    let host: String
    let port: Int
    let limits: OperatorAPI.Limits
    /// TLS for the operator port, if configured.
    let tls: OperatorTLS?
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let shown = host.contains(":") ? "[\(host)]" : host
        do {
            try await api.run(host: host, port: port, limits: limits, tls: tls, logger: logger) { bound in
                readiness.apiListening("\(shown):\(bound)")
            }
        } catch {
            throw StartError(message: "operator API on \(shown):\(port): \(error)")
        }
    }
}

/// A part that could not start, said in one line.
struct StartError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Whether agents are accepted, and the ready line. The gateway and the operator API start
/// concurrently; the line promises that both listen, so whichever comes up second prints it.
final class Readiness: Sendable {
    private struct State {
        var opamp: String?
        var io = ""
        var tls: String?
        var http: String?
        var printed = false
        var stopping = false
        var announcement = ""
    }

    private let state = Mutex(State())
    private let accepting = Atomic<Bool>(false)

    /// True from the gateway's start until shutdown begins (`/readyz`).
    var isAccepting: Bool { accepting.load(ordering: .acquiring) }

    /// True once the ready line was printed.
    var wasReady: Bool { state.withLock { $0.printed } }

    /// The I/O engine the gateway runs (`uring` or `epoll`), once it listens.
    var engine: String { state.withLock { $0.io } }

    func gatewayListening(_ address: String, io: String, tls: String?) {
        accepting.store(true, ordering: .releasing)
        printWhenBothUp {
            $0.opamp = address
            $0.io = io
            $0.tls = tls
        }
    }

    func apiListening(_ address: String) {
        printWhenBothUp { $0.http = address }
    }

    /// Text printed on standard output right after the ready line (the bootstrap token).
    func announce(_ text: String) {
        state.withLock { $0.announcement += text }
    }

    /// Shutdown began: `/readyz` answers 503, and a ready line not printed yet never will be.
    func stopAccepting() {
        accepting.store(false, ordering: .releasing)
        state.withLock { $0.stopping = true }
    }

    private func printWhenBothUp(_ update: (inout State) -> Void) {
        let line: String? = state.withLock { s in
            update(&s)
            guard let opamp = s.opamp, let http = s.http, !s.printed, !s.stopping else { return nil }
            s.printed = true
            return "ampora ready opamp=\(opamp) http=\(http) io=\(s.io)\(s.tls.map { " tls=\($0)" } ?? "")\n"
                + s.announcement
        }
        // Tests and benchmarks wait for exactly this line on standard output.
        if let line { FileHandle.standardOutput.write(Data(line.utf8)) }
    }
}

/// Work that blocks a thread (joining the loops, waiting on the database) runs on a Dispatch
/// thread, never on one of the few threads of Swift's cooperative pool.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
