import ArgumentParser
import Foundation
import Toolkit

extension GraphFormat: ExpressibleByArgument {}

/// The single merged config a transform command works on.
private func singleConfig(_ input: ConfigInputOptions) throws -> (LoadedInput, YNode) {
    let loaded = try input.load()
    guard loaded.units.count == 1, let unit = loaded.units.first else {
        throw UsageFailure(
            message: "expected one config (name files to merge them, not a directory of separate configs)")
    }
    guard let root = unit.root else {
        let reason = unit.syntaxFindings.first.map { "\($0.position.file):\($0.position.line): \($0.message)" }
        throw InputFailure(message: reason ?? "no Collector config found")
    }
    return (loaded, root)
}

/// `ampora-tool normalize`: canonical YAML.
struct Normalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a config in canonical form, for diffing and hashing.",
        discussion: """
            Sections in a fixed order (extensions, receivers, processors, connectors, exporters, service), \
            components, settings and pipelines sorted by ID, pipeline lists kept in order, anchors and merge keys \
            expanded, empty component settings written as {}. Several files are merged first.

            Exit status: 0 printed, 1 the input is not a config (YAML error), 2 usage or I/O error.
            """)

    @OptionGroup var input: ConfigInputOptions

    @Flag(
        name: .long,
        help: "Replace env references that have a value (from --env/--env-file); whole values are typed as YAML.")
    var resolveEnv = false

    @Flag(
        name: .long,
        help: "Replace values of secret-looking keys (password, token, api_key, auth headers…) with <redacted>.")
    var redact = false

    func run() throws {
        let (_, root) = try singleConfig(input)
        var options = NormalizeOptions()
        options.resolveEnvironment = resolveEnv
        options.redactSecrets = redact
        options.environment = try input.environment()
        print(Normalizer.normalize(root, options: options), terminator: "")
    }
}

/// `ampora-tool fix`: in-place autofix.
struct Fix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Repair fixable findings in place, keeping comments and layout.",
        discussion: """
            Renames deprecated component aliases and the pipeline entries that use them (skipped when the new ID \
            already exists), quotes unquoted OTTL statements, and rewrites bare $VAR as ${env:VAR}. Only the \
            changed characters are touched. Standard input is never rewritten: it is treated as --dry-run.

            Exit status: 0 done (or nothing to fix), 1 with --dry-run when something would change, 2 usage or I/O error.
            """)

    @OptionGroup var input: ConfigInputOptions

    @OptionGroup var registryOptions: RegistryOptions

    @Flag(name: .long, help: "Print a unified diff instead of writing the files.")
    var dryRun = false

    @Option(
        name: .long,
        help: "Only this fix (repeatable, or comma-separated): deprecated-alias, ottl-unquoted, bare-env-var.")
    var only: [String] = []

    func run() throws {
        let fixable = Set(RuleCatalog.all.filter(\.fixable).map(\.id))
        var chosen: Set<RuleID> = []
        for id in only.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let rule = RuleID(rawValue: id), fixable.contains(rule) else {
                throw UsageFailure(message: "'\(id)' has no autofix")
            }
            chosen.insert(rule)
        }
        let loaded = try input.load()
        let registry = try registryOptions.load()
        let rules = chosen.isEmpty ? fixable : chosen
        let edits = loaded.units.flatMap {
            Fixer.edits(for: $0, sources: loaded.sources, registry: registry, rules: rules)
        }
        var changed = false
        for name in loaded.sources.keys.sorted() {
            let source = loaded.sources[name]!
            let mine = edits.filter { $0.file == name }
            guard !mine.isEmpty else { continue }
            let fixed = Fixer.apply(mine, to: source)
            guard fixed != source.text else { continue }
            changed = true
            if dryRun || name == "-" {
                print(Fixer.unifiedDiff(old: source.text, new: fixed, name: name), terminator: "")
            } else {
                do {
                    try Data(fixed.utf8).write(to: URL(fileURLWithPath: name))
                } catch {
                    throw UsageFailure(message: "\(name): cannot write: \(error.localizedDescription)")
                }
                let counts = Dictionary(grouping: mine, by: \.rule).map { "\($0.value.count) \($0.key.rawValue)" }
                    .sorted()
                FileHandle.standardError.write(Data("fixed \(name): \(counts.joined(separator: ", "))\n".utf8))
            }
        }
        if dryRun && changed { throw ExitCode(1) }
    }
}

/// `ampora-tool graph`: the pipeline graph.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the pipeline graph as the Collector builds it.",
        discussion: """
            Receivers are shared per (signal, ID), processors belong to one pipeline, exporters are shared per \
            (signal, ID) and connectors bridge pipelines. Undeclared components are drawn dashed red, unused ones \
            grey, and edges on a connector cycle red. SVG is laid out by the tool itself (no Graphviz needed).

            Exit status: 0 drawn, 1 the input is not a config, 2 usage or I/O error.
            """)

    @OptionGroup var input: ConfigInputOptions

    @Option(name: .long, help: "dot, mermaid, json or svg.")
    var format: GraphFormat = .dot

    func run() throws {
        let (_, root) = try singleConfig(input)
        let environment = try input.environment()
        let graph = PipelineGraph(CollectorConfig(root: environment.expandWholeValues(root)))
        print(GraphRenderer.render(graph, format: format), terminator: "")
    }
}

/// `ampora-tool diff`: semantic differences.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two configs by meaning, ranked by risk.",
        discussion: """
            Reports pipelines added or removed, receivers/processors/exporters wired or unwired, processor order \
            changes, components added, removed or changed, endpoint and TLS changes (weakened TLS is high risk) and \
            extension changes. Formatting, comments, key order and anchors do not count.

            Exit status: 0 no semantic change, 1 changes found, 2 usage or I/O error.
            """)

    @Argument(help: "The old config file (or -).")
    var old: String

    @Argument(help: "The new config file (or -).")
    var new: String

    @Flag(name: .long, help: "Print JSON ({\"changes\": [{risk, kind, subject, detail}]}).")
    var json = false

    @OptionGroup var registryOptions: RegistryOptions

    func run() throws {
        let a = try root(of: old)
        let b = try root(of: new)
        let changes = ConfigDiffer.diff(old: a, new: b, registry: try registryOptions.load())
        print(ConfigDiffer.render(changes, json: json), terminator: "")
        if !changes.isEmpty { throw ExitCode(1) }
    }

    func root(of path: String) throws -> YNode {
        var options = try ConfigInputOptions.parse([path])
        options.separately = false
        return try singleConfig(options).1
    }
}
