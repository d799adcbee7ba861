/// Tables for `ampora-tool components`.
public enum ComponentListing {
    static func status(_ entry: RegistryEntry?) -> String {
        guard let entry else { return "unknown" }
        switch entry.status {
        case .current: return entry.isUnmaintained ? "unmaintained" : "current"
        case .deprecatedAlias: return "alias of \(entry.aliasOf ?? "?")"
        case .removed: return "removed"
        }
    }

    static func levels(_ entry: RegistryEntry?) -> String {
        guard let entry else { return "" }
        return entry.levels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// Every registry entry.
    public static func registry(_ registry: ComponentRegistry, kind: ComponentKind?, json: Bool) -> String {
        let entries = registry.allEntries.filter { kind == nil || $0.kind == kind }
        if json {
            let items = entries.map { entry in
                JSONText.object([
                    ("kind", JSONText.string(entry.kind.rawValue)), ("type", JSONText.string(entry.type)),
                    ("status", JSONText.string(status(entry))),
                    (
                        "stability",
                        JSONText.object(
                            entry.levels.sorted { $0.key < $1.key }.map { ($0.key, JSONText.string($0.value)) })
                    ),
                ])
            }
            return "[\n  " + items.joined(separator: ",\n  ") + "\n]\n"
        }
        return table(
            entries.map { [$0.kind.rawValue, $0.type, status($0), levels($0)] },
            header: ["KIND", "TYPE", "STATUS", "STABILITY"])
            + "\(entries.count) types\n"
    }

    /// Components declared by each config, with their registry status and the pipelines using them.
    public static func used(_ input: LoadedInput, registry: ComponentRegistry, kind: ComponentKind?, json: Bool)
        -> String
    {
        var rows: [[String]] = []
        for unit in input.units {
            guard let root = unit.root else { continue }
            let config = CollectorConfig(root: root)
            for component in config.allComponents where kind == nil || component.kind == kind {
                let pipelines: [String]
                if component.kind == .extension {
                    pipelines = config.serviceExtensions.contains { $0.id == component.id } ? ["service"] : []
                } else {
                    pipelines = config.pipelines.filter { pipeline in
                        let refs: [ComponentRef]
                        switch component.kind {
                        case .receiver: refs = pipeline.receivers
                        case .processor: refs = pipeline.processors
                        case .exporter: refs = pipeline.exporters
                        default: refs = pipeline.receivers + pipeline.exporters
                        }
                        return refs.contains { $0.id == component.id }
                    }.map(\.key)
                }
                let entry = registry.entry(component.kind, component.id.type)
                rows.append([
                    component.position.file, component.kind.rawValue, component.id.description, status(entry),
                    levels(registry.effectiveEntry(component.kind, component.id.type)),
                    pipelines.isEmpty ? "(unused)" : pipelines.joined(separator: ","),
                ])
            }
        }
        if json {
            let items = rows.map { row in
                JSONText.object(
                    zip(["file", "kind", "id", "status", "stability", "used_by"], row).map { ($0, JSONText.string($1)) }
                )
            }
            return "[\n  " + items.joined(separator: ",\n  ") + "\n]\n"
        }
        return table(rows, header: ["FILE", "KIND", "ID", "STATUS", "STABILITY", "USED BY"])
    }

    static func table(_ rows: [[String]], header: [String]) -> String {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
