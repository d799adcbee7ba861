/// One input file's text, kept so findings can show the line they point at.
public struct SourceText: Sendable {
    /// The name findings use.
    public var name: String
    /// The whole text.
    public var text: String
    /// The text split into lines (without terminators).
    public let lines: [Substring]

    /// Creates a source.
    public init(name: String, text: String) {
        self.name = name
        self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
    }

    /// The 1-based line, or nil when out of range.
    public func line(_ number: Int) -> Substring? {
        number >= 1 && number <= lines.count ? lines[number - 1] : nil
    }
}

/// A Collector config document found in a file, after unwrapping Kubernetes wrappers.
public struct ConfigDocument: Sendable {
    /// The config's root node.
    public var root: YNode
    /// How it was wrapped, for messages (`ConfigMap data.relay`, `OpenTelemetryCollector spec.config`).
    public var wrapper: String?
}

/// Recognises ConfigMap and OpenTelemetryCollector wrappers and takes the Collector config out of them.
public enum WrapperUnwrapper {
    /// Collector configs in one parsed document: the document itself, or the ones inside a wrapper.
    public static func configs(in document: YNode, source: SourceText) throws(YAMLSyntaxError) -> [ConfigDocument] {
        guard document.pairs != nil, let kind = document["kind"]?.scalar, document["apiVersion"] != nil else {
            return [ConfigDocument(root: document, wrapper: nil)]
        }
        switch kind {
        case "ConfigMap":
            var found: [ConfigDocument] = []
            for pair in document["data"]?.pairs ?? [] {
                guard let text = pair.value.scalar else { continue }
                let inner = try embedded(text, node: pair.value, source: source)
                for root in inner where looksLikeCollectorConfig(root) {
                    found.append(ConfigDocument(root: root, wrapper: "ConfigMap data.\(pair.key)"))
                }
            }
            return found
        case "OpenTelemetryCollector":
            guard let config = document["spec"]?["config"] else { return [] }
            if config.pairs != nil {
                return [ConfigDocument(root: config, wrapper: "OpenTelemetryCollector spec.config")]
            }
            guard let text = config.scalar else { return [] }
            return try embedded(text, node: config, source: source).map {
                ConfigDocument(root: $0, wrapper: "OpenTelemetryCollector spec.config")
            }
        default:
            return []
        }
    }

    static func looksLikeCollectorConfig(_ node: YNode) -> Bool {
        guard let pairs = node.pairs else { return false }
        return pairs.contains { Sections.all.contains($0.key) }
    }

    /// Parses YAML held in a string scalar; a literal block maps line for line, so positions are exact there.
    static func embedded(_ text: String, node: YNode, source: SourceText) throws(YAMLSyntaxError) -> [YNode] {
        var map = PositionMap()
        if node.style == .literal || node.style == .folded {
            // Literal blocks keep leading blank lines, so text line 1 is the line after the indicator; the
            // indentation is the first content line's.
            var line = node.position.line + 1
            while let content = source.line(line), content.allSatisfy({ $0 == " " }) { line += 1 }
            let indent = source.line(line)?.prefix(while: { $0 == " " }).count ?? 0
            map = PositionMap(lineOffset: node.position.line, columnOffset: indent)
        } else {
            map = PositionMap(lineOffset: node.position.line - 1, columnOffset: node.position.column - 1)
        }
        return try YAMLReader.documents(text, file: source.name, map: map)
    }
}

/// The Collector's top-level sections.
public enum Sections {
    /// Known top-level keys, in canonical order.
    public static let all = ["extensions", "receivers", "processors", "connectors", "exporters", "service"]
    /// Component sections, by their component kind.
    public static let componentSections: [(section: String, kind: ComponentKind)] = [
        ("extensions", .extension), ("receivers", .receiver), ("processors", .processor), ("connectors", .connector),
        ("exporters", .exporter),
    ]
}
