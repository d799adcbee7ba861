/// What the checks need besides the config.
public struct CheckOptions: Sendable {
    /// Component facts.
    public var registry: ComponentRegistry
    /// Values for env references.
    public var environment: Environment
    /// Limit for `config-too-large`.
    public var maxConfigBytes: Int
    /// Report env references without a value; off unless the environment was described (`--env`,
    /// `--env-file`, `--strict-env`), since deployments set most variables the files do not.
    public var reportUnsetEnvironment: Bool
    /// Feature gates the Collector runs with (`--feature-gates`), e.g. `service.profilesSupport`.
    public var featureGates: Set<String>
    /// The Collector release the config is meant for; decides which settings count as removed.
    public var collectorVersion: CollectorVersion
    /// True when the user named the release (`--collector-version`) rather than taking the registry's default;
    /// only then is renaming a deprecated alias known to be safe, so only then is it a warning.
    public var collectorVersionStated: Bool

    /// Defaults: the built-in registry, no environment, Ampora's 64 MiB message limit, the registry's release.
    public init(
        registry: ComponentRegistry = .builtin, environment: Environment = Environment(),
        maxConfigBytes: Int = 64 << 20, reportUnsetEnvironment: Bool = false, featureGates: Set<String> = [],
        collectorVersion: CollectorVersion = .registrySnapshot, collectorVersionStated: Bool = false
    ) {
        self.registry = registry
        self.environment = environment
        self.maxConfigBytes = maxConfigBytes
        self.reportUnsetEnvironment = reportUnsetEnvironment
        self.featureGates = featureGates
        self.collectorVersion = collectorVersion
        self.collectorVersionStated = collectorVersionStated
    }
}

/// Collects findings for one config while the checks run.
struct CheckContext {
    let config: CollectorConfig
    let options: CheckOptions
    let sizeBytes: Int
    /// The files' text, for checks that must see how a value was written (a comment that cut a statement).
    var sources: [String: SourceText] = [:]
    var findings: [Finding] = []

    var registry: ComponentRegistry { options.registry }

    mutating func report(
        _ rule: RuleID, _ message: String, at position: SourcePosition, path: String, severity: Severity? = nil
    ) {
        let severity = severity ?? rule.info.severity
        findings.append(Finding(rule: rule, severity: severity, message: message, position: position, path: path))
    }

    /// Pipelines with a valid ID, which are the ones whose wiring can be reasoned about.
    var validPipelines: [(PipelineID, Pipeline)] {
        config.pipelines.compactMap { pipeline in pipeline.id.map { ($0, pipeline) } }
    }
}

/// Visits every mapping entry below a node with its YAML path.
enum Walker {
    static func pairs(
        _ node: YNode, path: String, _ visit: (YPair, String) -> Void
    ) {
        switch node.kind {
        case .mapping(let pairs):
            for pair in pairs {
                let childPath = path.isEmpty ? pair.key : "\(path).\(pair.key)"
                visit(pair, childPath)
                Self.pairs(pair.value, path: childPath, visit)
            }
        case .sequence(let items):
            for (index, item) in items.enumerated() { Self.pairs(item, path: "\(path)[\(index)]", visit) }
        case .scalar:
            break
        }
    }

    /// Every scalar (values, not keys) with its path.
    static func scalars(_ node: YNode, path: String, _ visit: (YNode, String) -> Void) {
        switch node.kind {
        case .mapping(let pairs):
            for pair in pairs { scalars(pair.value, path: path.isEmpty ? pair.key : "\(path).\(pair.key)", visit) }
        case .sequence(let items):
            for (index, item) in items.enumerated() { scalars(item, path: "\(path)[\(index)]", visit) }
        case .scalar:
            visit(node, path)
        }
    }
}
