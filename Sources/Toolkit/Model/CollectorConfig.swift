/// A declared component: its ID, where it is declared and its settings.
public struct Component: Sendable, Hashable {
    /// Kind (the section it is declared in).
    public var kind: ComponentKind
    /// The parsed ID.
    public var id: ComponentID
    /// The key as written.
    public var key: String
    /// The key's position.
    public var position: SourcePosition
    /// The settings node (often null: defaults).
    public var config: YNode
    /// The YAML path of the declaration.
    public var path: String
}

/// An ID listed in a pipeline or in `service.extensions`.
public struct ComponentRef: Sendable, Hashable {
    /// The text as written.
    public var text: String
    /// The parsed ID, nil when the text is not an ID.
    public var id: ComponentID?
    /// Where.
    public var position: SourcePosition
    /// The YAML path (`service.pipelines.traces.processors[0]`).
    public var path: String
}

/// A pipeline under `service.pipelines`.
public struct Pipeline: Sendable, Hashable {
    /// The key as written.
    public var key: String
    /// The parsed ID, nil when invalid.
    public var id: PipelineID?
    /// Key position.
    public var position: SourcePosition
    /// YAML path.
    public var path: String
    /// Listed receivers, in order.
    public var receivers: [ComponentRef] = []
    /// Listed processors, in order (order matters).
    public var processors: [ComponentRef] = []
    /// Listed exporters, in order.
    public var exporters: [ComponentRef] = []
    /// The pipeline's node.
    public var node: YNode
}

/// The parts of a Collector config the checks reason about, read leniently: wrong shapes are skipped here
/// and reported by the structure rules.
public struct CollectorConfig: Sendable {
    /// The merged root.
    public var root: YNode
    /// Declared components by kind, in declaration order.
    public var components: [ComponentKind: [Component]] = [:]
    /// `service.extensions`.
    public var serviceExtensions: [ComponentRef] = []
    /// `service.pipelines`, in declaration order.
    public var pipelines: [Pipeline] = []

    /// Reads the model out of a root node.
    public init(root: YNode) {
        self.root = root
        for (section, kind) in Sections.componentSections {
            guard let pairs = root[section]?.pairs else { continue }
            components[kind] = pairs.compactMap { pair in
                guard case .success(let id) = ComponentID.parse(pair.key) else { return nil }
                return Component(
                    kind: kind, id: id, key: pair.key, position: pair.keyPosition, config: pair.value,
                    path: "\(section).\(pair.key)")
            }
        }
        let service = root["service"]
        serviceExtensions = Self.refs(service?["extensions"], path: "service.extensions")
        for pair in service?["pipelines"]?.pairs ?? [] {
            let path = "service.pipelines.\(pair.key)"
            var pipeline = Pipeline(
                key: pair.key, id: try? PipelineID.parse(pair.key).get(), position: pair.keyPosition, path: path,
                node: pair.value)
            pipeline.receivers = Self.refs(pair.value["receivers"], path: path + ".receivers")
            pipeline.processors = Self.refs(pair.value["processors"], path: path + ".processors")
            pipeline.exporters = Self.refs(pair.value["exporters"], path: path + ".exporters")
            pipelines.append(pipeline)
        }
    }

    static func refs(_ node: YNode?, path: String) -> [ComponentRef] {
        guard let items = node?.items else { return [] }
        return items.enumerated().compactMap { index, item in
            guard let text = item.scalar else { return nil }
            return ComponentRef(
                text: text, id: try? ComponentID.parse(text).get(), position: item.position, path: "\(path)[\(index)]")
        }
    }

    /// The declared component of `kind` with `id`.
    public func component(_ kind: ComponentKind, _ id: ComponentID) -> Component? {
        components[kind]?.first { $0.id == id }
    }

    /// All declared components, in section order then declaration order.
    public var allComponents: [Component] {
        ComponentKind.allCases.flatMap { components[$0] ?? [] }
    }

    /// True when `id` is declared as a connector.
    public func isConnector(_ id: ComponentID) -> Bool { component(.connector, id) != nil }
}

/// Merges config documents the Collector's way: maps merge key by key, everything else is replaced.
public enum ConfigMerger {
    /// `overlay` merged onto `base`.
    public static func merge(_ base: YNode, _ overlay: YNode) -> YNode {
        guard var pairs = base.pairs, let overlayPairs = overlay.pairs else { return overlay }
        for pair in overlayPairs {
            if let index = pairs.firstIndex(where: { $0.key == pair.key }) {
                pairs[index].value = merge(pairs[index].value, pair.value)
            } else {
                pairs.append(pair)
            }
        }
        var merged = base
        merged.kind = .mapping(pairs)
        return merged
    }

    /// All documents merged in order.
    public static func merge(_ documents: [YNode]) -> YNode? {
        guard var result = documents.first else { return nil }
        for document in documents.dropFirst() { result = merge(result, document) }
        return result
    }
}
