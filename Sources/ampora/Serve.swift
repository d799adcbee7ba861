import ArgumentParser
import Foundation

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
        // The io_uring/epoll gateway is the next issue; refuse plainly rather than pretend.
        FileHandle.standardError.write(
            Data(
                """
                ampora: configuration ok (opamp=\(s.opamp) http=\(s.http) database=\(s.database) io=\(s.io.rawValue) loops=\(s.loops))
                ampora: the agent gateway is not implemented yet, so there is nothing to serve

                """.utf8))
        throw ExitCode(1)
    }
}
