import ArgumentParser
import Foundation
import Toolkit

extension FindingFormat: ExpressibleByArgument {}
extension Severity: ExpressibleByArgument {}

/// Where configs come from and how references resolve; shared by every config command.
struct ConfigInputOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "Config files, directories or - for standard input.",
            discussion:
                "Files named together are merged the way the Collector merges several --config sources (maps merge, everything else is replaced). Every *.yaml/*.yml file under a directory is checked on its own. Kubernetes ConfigMaps and OpenTelemetryCollector resources are unwrapped."
        ))
    var paths: [String] = []

    @Flag(name: .long, help: "Check each named file on its own instead of merging them.")
    var separately = false

    @Flag(
        name: .long,
        help:
            "Merge every YAML document and ConfigMap data key of a file into one config. By default each is a config of its own, as the Collector reads one config per source."
    )
    var merge = false

    @Option(
        name: .customLong("env"),
        help: ArgumentHelp("Give an env reference a value (repeatable).", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(
        name: .long, help: ArgumentHelp("Read NAME=VALUE lines for env references (repeatable).", valueName: "file"))
    var envFile: [String] = []

    @Flag(
        name: .long,
        help:
            "Read files named by whole-value ${file:PATH} references (relative to the working directory, as the Collector does) instead of leaving those values unjudged."
    )
    var resolveFiles = false

    @Flag(
        name: .long,
        help:
            "Report env references that have no value and no default even without --env/--env-file (with either, references they do not set are reported)."
    )
    var strictEnv = false

    func environment() throws -> Environment {
        var environment = Environment()
        if resolveFiles {
            environment.fileReader = { path in
                FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
            }
        }
        for file in envFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw UsageFailure(message: "\(file): cannot read env file")
            }
            environment.load(envFile: String(decoding: data, as: UTF8.self))
        }
        for pair in env {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw UsageFailure(message: "--env expects NAME=VALUE, got '\(pair)'")
            }
            environment.values[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return environment
    }

    func checkOptions(_ registry: RegistryOptions) throws -> CheckOptions {
        CheckOptions(
            registry: try registry.load(), environment: try environment(),
            reportUnsetEnvironment: strictEnv || !env.isEmpty || !envFile.isEmpty,
            featureGates: registry.gates(), collectorVersion: try registry.version(),
            collectorVersionStated: registry.collectorVersion != nil)
    }

    func load(ignore: [String] = []) throws -> LoadedInput {
        guard !paths.isEmpty else { throw UsageFailure(message: "no input: name config files, directories or -") }
        do {
            return try Loader.load(paths: paths, separately: separately, merge: merge, ignore: ignore) {
                String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
        } catch {
            throw UsageFailure(message: error.message)
        }
    }
}

/// Which Collector the configs are for: distribution, release, extra component lists and feature gates.
struct RegistryOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The Collector distribution: core, contrib, k8s or otlp (from their published manifests). Default: every known type. Add a vendor distribution's own types with --registry-add.",
            valueName: "name"))
    var distribution: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The Collector release, like v0.128 or 0.150.1: which types exist and which settings were removed by then (default: the built-in registry's release).",
            valueName: "version"))
    var collectorVersion: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Describe the distribution with this components.tsv-shaped file instead of the built-in registry.",
            valueName: "file"))
    var registry: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Add the component types of this components.tsv-shaped file to the registry (repeatable), for vendor distributions.",
            valueName: "file"))
    var registryAdd: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Feature gates the Collector runs with, comma-separated (service.profilesSupport allows profiles pipelines).",
            valueName: "gates"))
    var featureGates: [String] = []

    func version() throws -> CollectorVersion {
        guard let collectorVersion else { return .registrySnapshot }
        guard let version = CollectorVersion(collectorVersion) else {
            throw UsageFailure(message: "--collector-version expects vMAJOR.MINOR[.PATCH], got '\(collectorVersion)'")
        }
        return version
    }

    func gates() -> Set<String> {
        // The Collector's own flag also takes `+gate` to enable and `-gate` to disable.
        Set(
            featureGates.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.hasPrefix("-")
            }
            .map { $0.hasPrefix("+") ? String($0.dropFirst()) : $0 })
    }

    static func rows(_ path: String) throws -> [RegistryRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageFailure(message: "\(path): cannot read registry file")
        }
        do {
            return try ComponentRegistry.rows(tsv: String(decoding: data, as: UTF8.self))
        } catch {
            throw UsageFailure(message: "\(path): \(error.message)")
        }
    }

    func load() throws -> ComponentRegistry {
        var registry: ComponentRegistry
        if let file = self.registry {
            registry = ComponentRegistry(rows: try Self.rows(file))
        } else {
            let version = try version()
            do {
                registry = try ComponentRegistry.distribution(distribution, version: version)
            } catch {
                throw UsageFailure(message: error.message)
            }
        }
        for file in registryAdd { registry.add(try Self.rows(file)) }
        return registry
    }
}

/// `--config FILE`: lint settings, `./.ampora-lint.yaml` by default.
struct PolicyOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp("Lint settings file (default: ./.ampora-lint.yaml when present).", valueName: "file"))
    var policyFile: String?

    func policy() throws -> LintPolicy {
        let path = policyFile ?? ".ampora-lint.yaml"
        guard let data = FileManager.default.contents(atPath: path) else {
            if policyFile != nil { throw UsageFailure(message: "\(path): cannot read lint settings") }
            return LintPolicy()
        }
        do {
            return try LintPolicy(yaml: String(decoding: data, as: UTF8.self), file: path)
        } catch {
            throw UsageFailure(message: error.message)
        }
    }
}

/// Output format and the severity that fails the run.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: text, json, sarif (2.1.0) or github (workflow annotations).")
    var format: FindingFormat = .text

    @Option(
        name: .long,
        help:
            "Exit 1 when a finding is at or above this severity: info, warning or error (default error, or the settings file's)."
    )
    var severityThreshold: Severity?

    @Flag(name: .long, help: "Colour the text format even when standard output is not a terminal.")
    var color = false
}

/// Shared body of `validate` and `lint`.
func runChecks(
    _ input: ConfigInputOptions, _ registry: RegistryOptions, _ settings: PolicyOptions, _ report: ReportOptions,
    mode: CheckMode
) throws {
    let policy = try settings.policy()
    let loaded = try input.load(ignore: policy.ignore)
    var options = try input.checkOptions(registry)
    // Setting the rule's severity in the settings file asks for it as much as --strict-env does.
    if policy.severities[.envUnsetNoDefault] != nil { options.reportUnsetEnvironment = true }
    let findings = Linter.check(loaded, options: options, policy: policy, mode: mode)
    let color = report.color || (report.format == .text && isatty(STDOUT_FILENO) == 1)
    let output = FindingFormatter.render(
        findings, format: report.format, fileCount: loaded.fileCount, sources: loaded.sources, color: color)
    FileHandle.standardOutput.write(Data(output.utf8))
    let threshold = report.severityThreshold ?? policy.threshold ?? .error
    if findings.contains(where: { $0.severity >= threshold }) { throw ExitCode(1) }
}

/// `ampora-tool validate`: what the Collector itself would refuse.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report what the Collector itself would refuse to start with.",
        discussion: """
            Runs the refusal rules only (marked 'validate' in ampora-tool rules): YAML syntax, sections, IDs, \
            pipelines, undeclared components and extensions, unknown and removed types and settings for the chosen \
            --distribution and --collector-version, invalid values, connectors, cycles, signal support, OTTL that \
            YAML misreads and profiles pipelines without --feature-gates. Each YAML document and ConfigMap data key \
            is its own config (--merge merges them).

            Exit status: 0 nothing at or above the threshold, 1 findings at or above it, 2 usage or I/O error.
            """)

    @OptionGroup var input: ConfigInputOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var settings: PolicyOptions
    @OptionGroup var report: ReportOptions

    func run() throws { try runChecks(input, registry, settings, report, mode: .validate) }
}

/// `ampora-tool lint`: every rule.
struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate, then check hygiene, security and the component registry.",
        discussion: """
            Every rule runs (see ampora-tool rules). Settings come from .ampora-lint.yaml: \
            disable/enable lists, per-rule severities (rules: {id: off|info|warning|error}), ignore globs, \
            severity-threshold and max-config-bytes. A comment '# ampora-lint: disable=RULE[,RULE]' on a line \
            (or alone on the line above) silences those rules there; 'disable-file=RULE' silences them in the file.

            Exit status: 0 nothing at or above the threshold, 1 findings at or above it, 2 usage or I/O error.
            """)

    @OptionGroup var input: ConfigInputOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var settings: PolicyOptions
    @OptionGroup var report: ReportOptions

    func run() throws { try runChecks(input, registry, settings, report, mode: .lint) }
}

/// `ampora-tool rules`: the rule catalogue.
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every rule with its id, default severity and rationale.")

    @Option(name: .long, help: "Output format: text or json.")
    var format: FindingFormat = .text

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Only these categories (structure, references, registry, hygiene, security).")
    var category: [String] = []

    func run() throws {
        let categories = category.flatMap { $0.split(separator: ",").map(String.init) }
        for name in categories where RuleCategory(rawValue: name) == nil {
            throw UsageFailure(message: "unknown category '\(name)'")
        }
        let rules = RuleCatalog.all.filter { categories.isEmpty || categories.contains($0.category.rawValue) }
        print(RuleListing.render(rules, json: format == .json), terminator: "")
    }
}
