import ArgumentParser
import Fleet
import Foundation
import Gateway

/// `ampora`: the OpAMP server.
@main
struct Ampora: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ampora",
        abstract: "Ampora, an OpAMP server for fleets of OpenTelemetry Collectors.",
        subcommands: [Serve.self, Token.self, CA.self, Ctl.self, Version.self],
        defaultSubcommand: Serve.self
    )

    /// This build's version.
    static let version = "0.1.0"

    /// The database every command uses when neither a flag nor `AMPORA_DATABASE` names one.
    static let defaultDatabase = "sqlite:./ampora.db"

    /// The database a command other than `serve` works on: its `--database` flag, else
    /// `AMPORA_DATABASE`, else the default (the one `serve` would open).
    static func databaseURL(_ flag: String?) -> String {
        let environment = ProcessInfo.processInfo.environment["AMPORA_DATABASE"].flatMap { $0.isEmpty ? nil : $0 }
        return flag ?? environment ?? defaultDatabase
    }
}

/// `ampora version`: the build and the C libraries it links.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the linked C libraries.")

    func run() {
        print("ampora \(Ampora.version)")
        for (name, version) in Gateway.linkedLibraries + Fleet.linkedLibraries {
            print("  \(name): \(version)")
        }
    }
}
