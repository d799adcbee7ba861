/// Options for canonical output.
public struct NormalizeOptions: Sendable {
    /// Replace env references that have a value (whole values typed as YAML).
    public var resolveEnvironment = false
    /// Replace values of secret-looking keys with `<redacted>`.
    public var redactSecrets = false
    /// Values for env references.
    public var environment = Environment()

    /// Defaults: references and secrets kept.
    public init() {}
}

/// The canonical form of a config, for diffing and hashing: fixed section order, components and settings sorted,
/// pipeline lists kept in order (order is meaning there), anchors and merges expanded, null settings as `{}`.
public enum Normalizer {
    static let serviceOrder = ["extensions", "telemetry", "pipelines"]

    /// The canonical YAML text.
    public static func normalize(_ root: YNode, options: NormalizeOptions = NormalizeOptions()) -> String {
        YAMLEmitter.emit(canonical(root, options: options))
    }

    /// The canonical tree.
    public static func canonical(_ root: YNode, options: NormalizeOptions = NormalizeOptions()) -> YNode {
        var root = root
        if options.resolveEnvironment {
            root = resolve(options.environment.expandWholeValues(root), options.environment)
        }
        guard let pairs = root.pairs else { return root }
        var result: [YPair] = []
        for section in Sections.all {
            guard var pair = pairs.first(where: { $0.key == section }) else { continue }
            if section == "service" {
                pair.value = service(pair.value, options)
            } else if let components = pair.value.pairs {
                let sorted = components.sorted { $0.key < $1.key }.map { component -> YPair in
                    var component = component
                    component.value =
                        component.value.isNull
                        ? YNode(.mapping([]), at: component.value.position)
                        : sortedMaps(component.value, options, path: [])
                    return component
                }
                pair.value.kind = .mapping(sorted)
            }
            result.append(pair)
        }
        // Unknown sections are kept at the end, sorted, so nothing is silently dropped.
        for pair in pairs.filter({ !Sections.all.contains($0.key) }).sorted(by: { $0.key < $1.key }) {
            result.append(
                YPair(key: pair.key, keyPosition: pair.keyPosition, value: sortedMaps(pair.value, options, path: [])))
        }
        root.kind = .mapping(result)
        return root
    }

    static func service(_ node: YNode, _ options: NormalizeOptions) -> YNode {
        guard let pairs = node.pairs else { return node }
        var result: [YPair] = []
        for key in serviceOrder {
            guard var pair = pairs.first(where: { $0.key == key }) else { continue }
            if key == "pipelines", let pipelines = pair.value.pairs {
                let sorted = pipelines.sorted { $0.key < $1.key }.map { pipeline -> YPair in
                    var pipeline = pipeline
                    let fields = ["receivers", "processors", "exporters"].compactMap { field in
                        pipeline.value.pair(field)
                    }
                    pipeline.value.kind = .mapping(fields)
                    return pipeline
                }
                pair.value.kind = .mapping(sorted)
            } else if key != "extensions" {
                pair.value = sortedMaps(pair.value, options, path: [])
            }
            result.append(pair)
        }
        for pair in pairs.filter({ !serviceOrder.contains($0.key) }).sorted(by: { $0.key < $1.key }) {
            result.append(pair)
        }
        var copy = node
        copy.kind = .mapping(result)
        return copy
    }

    static func sortedMaps(_ node: YNode, _ options: NormalizeOptions, path: [String]) -> YNode {
        var copy = node
        switch node.kind {
        case .mapping(let pairs):
            copy.kind = .mapping(
                pairs.sorted { $0.key < $1.key }.map { pair in
                    var pair = pair
                    if options.redactSecrets, pair.value.scalar != nil, !pair.value.isNull,
                        Secrets.isSecretKey(pair.key, parentKey: path.last ?? "")
                    {
                        pair.value = YNode(.scalar("<redacted>", .doubleQuoted), at: pair.value.position)
                    } else {
                        pair.value = sortedMaps(pair.value, options, path: path + [pair.key])
                    }
                    return pair
                })
        case .sequence(let items):
            copy.kind = .sequence(items.map { sortedMaps($0, options, path: path) })
        case .scalar:
            break
        }
        return copy
    }

    static func resolve(_ node: YNode, _ environment: Environment) -> YNode {
        var copy = node
        switch node.kind {
        case .mapping(let pairs):
            copy.kind = .mapping(
                pairs.map { YPair(key: $0.key, keyPosition: $0.keyPosition, value: resolve($0.value, environment)) })
        case .sequence(let items):
            copy.kind = .sequence(items.map { resolve($0, environment) })
        case .scalar(let text, let style):
            guard text.includes("$") else { return node }
            let value = environment.resolve(text).value
            // `$$` collapses to `$` once resolved; quoting keeps the text a string.
            copy.kind = .scalar(value, value == text ? style : .doubleQuoted)
        }
        return copy
    }
}
