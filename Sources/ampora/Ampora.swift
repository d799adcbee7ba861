import ArgumentParser
import Foundation

/// `ampora`: the OpAMP server.
@main
struct Ampora: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ampora",
        abstract: "Ampora, an OpAMP server for fleets of OpenTelemetry Collectors.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}
