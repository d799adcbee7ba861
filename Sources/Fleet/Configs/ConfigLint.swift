import Core
import Toolkit

/// The Toolkit, applied to config versions: the same checks, graph and diff as `ampora-tool lint`,
/// `graph` and `diff`, with the files of a version as the inputs named on its command line.
enum ConfigLint {
    /// Findings kept with a version at most; a pathological config could otherwise make a row
    /// (and an error answer) of megabytes.
    static let maxFindings = 1000

    /// The files of `map` in the order the Supervisor merges them: by the bytes of their names.
    static func ordered(_ map: AgentConfigMap) -> [(name: String, file: ConfigFile)] {
        map.configMap.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { name in
            let file = map.configMap[name]!
            return (name, ConfigFile(body: file.body, contentType: file.contentType))
        }
    }

    /// Every file as a source named by its file name: the Collector merges several `--config`
    /// sources, and so does `ampora-tool lint` when given several files.
    static func sources(_ files: [(name: String, file: ConfigFile)]) -> [SourceText] {
        files.map { SourceText(name: $0.name, text: String(decoding: $0.file.body, as: UTF8.self)) }
    }

    /// What `ampora-tool lint --format json` reports for the files, errors first, at most `maxFindings`.
    static func findings(_ files: [(name: String, file: ConfigFile)]) -> [ConfigFinding] {
        let sources = sources(files)
        let input = LoadedInput(
            sources: Dictionary(sources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            units: Loader.units(sources, merge: false))
        let found = Linter.check(input, options: CheckOptions(), policy: LintPolicy(), mode: .lint)
        let ranked = found.enumerated().sorted { a, b in
            a.element.severity != b.element.severity ? a.element.severity > b.element.severity : a.offset < b.offset
        }
        return ranked.prefix(maxFindings).map { _, f in
            ConfigFinding(
                rule: f.rule.rawValue, severity: f.severity.rawValue, message: f.message, file: f.position.file,
                line: f.position.line, column: f.position.column, path: f.path)
        }
    }

    /// The one merged config the files make, as `ampora-tool graph` and `diff` need it.
    static func root(_ files: [(name: String, file: ConfigFile)], version: Int64) throws(FleetError) -> YNode {
        let units = Loader.units(sources(files), merge: false)
        guard units.count == 1, let unit = units.first else {
            throw FleetError(
                .invalid, "invalid_config", "version \(version) holds several configs (YAML documents), not one")
        }
        guard let root = unit.root else {
            let reason = unit.syntaxFindings.first.map { ": \($0.position.line):\($0.position.column) \($0.message)" }
            throw FleetError(.invalid, "invalid_config", "version \(version) does not parse" + (reason ?? ""))
        }
        return root
    }

    /// One file in canonical form with the values of secret-looking keys replaced, as
    /// `ampora-tool normalize --redact` prints it; nil when the file is not one YAML document
    /// (its secrets could then not be found, so nothing of it may be shown).
    static func redacted(_ body: [UInt8], name: String) -> String? {
        let units = Loader.units([SourceText(name: name, text: String(decoding: body, as: UTF8.self))], merge: false)
        guard units.count == 1, let root = units.first?.root else { return nil }
        var options = NormalizeOptions()
        options.redactSecrets = true
        return Normalizer.normalize(root, options: options)
    }

    /// The pipeline graph, as `ampora-tool graph --format svg|json` draws it.
    static func graph(_ root: YNode, format: ConfigGraphFormat) -> String {
        let graph = PipelineGraph(CollectorConfig(root: Environment().expandWholeValues(root)))
        return GraphRenderer.render(graph, format: format == .svg ? .svg : .json)
    }

    /// The semantic changes from `old` to `new`, as `ampora-tool diff --json` prints them.
    static func diff(old: YNode, new: YNode) -> String {
        ConfigDiffer.render(ConfigDiffer.diff(old: old, new: new), json: true)
    }
}
