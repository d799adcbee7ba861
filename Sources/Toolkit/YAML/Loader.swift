import Foundation

/// One config as the Collector would see it: one or more documents merged.
public struct ConfigUnit: Sendable {
    /// The files that make it up, in merge order.
    public var files: [String]
    /// The merged root, nil when nothing parsed.
    public var root: YNode?
    /// Total bytes of the inputs.
    public var sizeBytes: Int
    /// YAML syntax errors, already findings.
    public var syntaxFindings: [Finding]
    /// The texts the config was read from, for checks that look at how a value is written.
    public var sources: [SourceText] = []
}

/// A file or directory that could not be read (exit status 2, not a finding).
public struct LoadError: Error, Sendable {
    /// What went wrong.
    public var message: String
}

/// Everything read for one command.
public struct LoadedInput: Sendable {
    /// Every source file read, by name, for excerpts and inline disables.
    public var sources: [String: SourceText] = [:]
    /// The configs to check.
    public var units: [ConfigUnit] = []
    /// Number of files read.
    public var fileCount: Int { sources.count }

    /// Empty input.
    public init() {}

    /// Input from sources already in memory (tests, fuzzing, the web UI).
    public init(sources: [String: SourceText], units: [ConfigUnit]) {
        self.sources = sources
        self.units = units
    }
}

/// Reads files, directories and standard input into config units.
public enum Loader {
    /// Loads `paths`: explicit files (and `-`) merge into one config unless `separately`; every YAML file found in
    /// a directory is a config of its own. A file holding several configs (YAML documents, ConfigMap data keys)
    /// gives one config per document, as the Collector reads one config per source, unless `merge`.
    public static func load(
        paths: [String], separately: Bool = false, merge: Bool = false, ignore: [String] = [],
        stdin: () -> String = { "" }
    ) throws(LoadError) -> LoadedInput {
        var input = LoadedInput()
        var merged: [SourceText] = []
        var single: [SourceText] = []
        for path in paths {
            if path == "-" {
                merged.append(SourceText(name: "-", text: stdin()))
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw LoadError(message: "\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                for file in try yamlFiles(under: path) where !Glob.matchesAny(ignore, file) {
                    single.append(try read(file))
                }
            } else if !Glob.matchesAny(ignore, path) {
                merged.append(try read(path))
            }
        }
        var groups: [[SourceText]] = separately ? merged.map { [$0] } : (merged.isEmpty ? [] : [merged])
        groups += single.map { [$0] }
        for group in groups {
            for source in group { input.sources[source.name] = source }
            input.units += units(group, merge: merge)
        }
        return input
    }

    static func read(_ path: String) throws(LoadError) -> SourceText {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(message: "\(path): cannot read")
        }
        return SourceText(name: path, text: String(decoding: data, as: UTF8.self))
    }

    static func yamlFiles(under directory: String) throws(LoadError) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
            throw LoadError(message: "\(directory): cannot list")
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") else { continue }
            let base = directory.hasSuffix("/") ? directory : directory + "/"
            let full = base + relative
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(full)
            }
        }
        return files.sorted()
    }

    /// Parses and merges sources already in memory, every document of every source into one config (`--merge`).
    public static func unit(_ sources: [SourceText]) -> ConfigUnit {
        units(sources, merge: true)[0]
    }

    /// Parses sources already in memory into configs; this is the whole pipeline short of file I/O. Sources that
    /// hold one config merge into one; unless `merge`, each config of a source holding several is its own unit.
    public static func units(_ sources: [SourceText], merge: Bool) -> [ConfigUnit] {
        var merged: [YNode] = []
        var findings: [Finding] = []
        var split: [ConfigUnit] = []
        var mergedSources: [SourceText] = []
        for source in sources {
            do {
                var configs: [ConfigDocument] = []
                for document in try YAMLReader.documents(source.text, file: source.name) {
                    configs += try WrapperUnwrapper.configs(in: document, source: source)
                }
                if merge || configs.count <= 1 {
                    merged += configs.map(\.root)
                    mergedSources.append(source)
                } else {
                    split += configs.map { config in
                        ConfigUnit(
                            files: [source.name], root: config.root, sizeBytes: source.text.utf8.count,
                            syntaxFindings: [], sources: [source])
                    }
                }
            } catch {
                findings.append(
                    Finding(
                        rule: .yamlSyntax, severity: .error, message: error.message, position: error.position,
                        path: ""))
                mergedSources.append(source)
            }
        }
        guard !mergedSources.isEmpty else { return split }
        let unit = ConfigUnit(
            files: mergedSources.map(\.name), root: findings.isEmpty ? ConfigMerger.merge(merged) : nil,
            sizeBytes: mergedSources.reduce(0) { $0 + $1.text.utf8.count }, syntaxFindings: findings,
            sources: mergedSources)
        return [unit] + split
    }
}
