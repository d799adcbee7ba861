import ArgumentParser
import Foundation
import Toolkit

/// `ampora-tool components`: the registry, or the components a config declares.
struct Components: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List known component types, or the components a config declares and how they are used.",
        discussion: """
            Without a config: every type in the registry (built in, or --registry FILE) with its status \
            (current, deprecated alias, removed) and stability per signal. With configs: each declared component, \
            its registry status and the pipelines that use it.
            """)

    @OptionGroup var input: ConfigInputOptions
    @OptionGroup var registryOptions: RegistryOptions

    @Option(name: .long, help: "Only this kind: receiver, processor, exporter, connector or extension.")
    var kind: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        var kindFilter: ComponentKind?
        if let kind {
            guard let parsed = ComponentKind(rawValue: kind) else {
                throw UsageFailure(message: "unknown kind '\(kind)'")
            }
            kindFilter = parsed
        }
        let registry = try registryOptions.load()
        if input.paths.isEmpty {
            print(ComponentListing.registry(registry, kind: kindFilter, json: json), terminator: "")
            return
        }
        let loaded = try input.load()
        print(ComponentListing.used(loaded, registry: registry, kind: kindFilter, json: json), terminator: "")
    }
}
