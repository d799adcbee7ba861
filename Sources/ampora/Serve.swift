import ArgumentParser
import Foundation
import Gateway

/// A `HOST:PORT` listen address.
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible {
    var host: String
    var port: UInt16

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = UInt16(argument[argument.index(after: colon)...])
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Which I/O engine the gateway runs.
enum IOMode: String, ExpressibleByArgument, CaseIterable {
    case auto, uring, epoll
}

/// `ampora serve`: DESIGN.md §6 is the contract for these flags and their environment variables.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve OpAMP agents and the operator API.",
        discussion: """
            Every option can also be set with an environment variable (AMPORA_OPAMP_LISTEN, \
            AMPORA_HTTP_LISTEN, AMPORA_DATABASE, AMPORA_IO, AMPORA_LOOPS); a flag wins over \
            the environment.
            """
    )

    @Option(name: .customLong("opamp-listen"), help: "Where agents connect (WebSocket and HTTP), HOST:PORT.")
    var opampListen: ListenAddress?

    @Option(name: .customLong("http-listen"), help: "Operator REST API and UI, HOST:PORT.")
    var httpListen: ListenAddress?

    @Option(name: .customLong("database"), help: "sqlite:PATH or postgres://… (default sqlite:./ampora.db).")
    var database: String?

    @Option(name: .customLong("io"), help: "I/O engine: auto (io_uring unless unavailable), uring or epoll.")
    var io: IOMode?

    @Option(name: .customLong("loops"), help: "Event loops (default: one per core).")
    var loops: Int?

    @Option(name: .customLong("idle-timeout"), help: "Seconds without traffic before an agent connection is closed.")
    var idleTimeout: UInt64 = 120

    @Option(name: .customLong("header-timeout"), help: "Seconds an agent may take to send an HTTP request head.")
    var headerTimeout: UInt64 = 10

    @Option(
        name: .customLong("max-message-bytes"),
        help: "Largest OpAMP message accepted (WebSocket 1009, HTTP 413 beyond).")
    var maxMessageBytes: Int = 64 << 20

    @Option(
        name: .customLong("max-rings"),
        help: "io_uring rings the server may grow to as rings fill (each holds up to the open-file limit of agents).")
    var maxRings: Int = 64

    @Flag(name: .customLong("websocket-deflate"), help: "Accept permessage-deflate when agents offer it.")
    var websocketDeflate = false

    /// The effective configuration after flags, environment and defaults.
    struct Settings {
        var opamp: ListenAddress
        var http: ListenAddress
        var database: String
        var io: IOMode
        var loops: Int
    }

    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        func env<T: ExpressibleByArgument>(_ name: String, _ type: T.Type) throws -> T? {
            guard let raw = environment[name], !raw.isEmpty else { return nil }
            guard let value = T(argument: raw) else { throw ValidationError("\(name)=\(raw) is not valid") }
            return value
        }
        let loops = try loops ?? env("AMPORA_LOOPS", Int.self) ?? ProcessInfo.processInfo.activeProcessorCount
        guard loops >= 1 && loops <= 1024 else { throw ValidationError("--loops must be between 1 and 1024") }
        let database = try database ?? env("AMPORA_DATABASE", String.self) ?? "sqlite:./ampora.db"
        guard database.hasPrefix("sqlite:") || database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
        else { throw ValidationError("--database must be sqlite:PATH or postgres://…, got \(database)") }
        return Settings(
            opamp: try opampListen ?? env("AMPORA_OPAMP_LISTEN", ListenAddress.self) ?? ListenAddress(
                argument: "0.0.0.0:4320")!,
            http: try httpListen ?? env("AMPORA_HTTP_LISTEN", ListenAddress.self) ?? ListenAddress(
                argument: "127.0.0.1:8080")!,
            database: database,
            io: try io ?? env("AMPORA_IO", IOMode.self) ?? .auto,
            loops: loops
        )
    }

    func run() throws {
        let s = try settings()
        let directory = InMemoryAgentDirectory()
        let opampAddress: SocketAddress
        let httpAddress: SocketAddress
        do {
            opampAddress = try SocketAddress(host: s.opamp.host, port: s.opamp.port)
            httpAddress = try SocketAddress(host: s.http.host, port: s.http.port)
        } catch {
            throw ValidationError("listen addresses must be IP literals or localhost: \(error)")
        }
        let engine = IOEngine(rawValue: s.io.rawValue) ?? .auto
        guard idleTimeout >= 1, headerTimeout >= 1, maxMessageBytes >= 1024 else {
            throw ValidationError("timeouts must be at least 1 s and --max-message-bytes at least 1024")
        }
        var configuration = GatewayConfiguration()
        configuration.idleTimeoutMilliseconds = idleTimeout * 1000
        configuration.headerTimeoutMilliseconds = headerTimeout * 1000
        configuration.bodyTimeoutMilliseconds = max(headerTimeout, 30) * 1000
        configuration.maxMessageSize = maxMessageBytes
        configuration.httpLimits.maxBodyBytes = maxMessageBytes
        configuration.allowWebSocketDeflate = websocketDeflate
        guard maxRings >= 1 && maxRings <= 1024 else { throw ValidationError("--max-rings must be between 1 and 1024") }
        configuration.maxRings = maxRings
        let gateway = GatewayServer(
            configuration: configuration, address: opampAddress, loops: s.loops, engine: engine, directory: directory)
        let operatorPlane = SimpleHTTPServer { request in
            OperatorEndpoints.answer(request, gateway: gateway)
        }
        Signals.blockTermination()
        do {
            try gateway.start()
            try operatorPlane.start(httpAddress)
        } catch {
            Log.error("cannot start: \(error)")
            gateway.stop()
            throw ExitCode(1)
        }
        Log.info("io=\(gateway.engine.rawValue)\(gateway.engineNote.isEmpty ? "" : " (\(gateway.engineNote))")")
        do {
            Log.info("database \(s.database) not used yet: agent state stays in memory until the Fleet store lands")
        }
        let opampShown =
            "\(opampAddress.host.contains(":") ? "[\(opampAddress.host)]" : opampAddress.host):\(gateway.port)"
        let httpShown =
            "\(httpAddress.host.contains(":") ? "[\(httpAddress.host)]" : httpAddress.host):\(operatorPlane.port)"
        FileHandle.standardOutput.write(
            Data("ampora ready opamp=\(opampShown) http=\(httpShown) io=\(gateway.engine.rawValue)\n".utf8))

        let signal = Signals.waitForTermination()
        Log.info("signal \(signal): closing agents with 1001 and stopping")
        operatorPlane.stop()
        gateway.stop()
        Log.info("stopped")
    }
}
