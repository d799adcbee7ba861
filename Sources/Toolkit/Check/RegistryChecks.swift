/// Checks against the component registry: unknown, removed, deprecated and unstable types.
enum RegistryChecks {
    static func run(_ context: inout CheckContext) {
        let signalsByComponent = usedSignals(context)
        for component in context.config.allComponents {
            let kind = component.kind
            guard let entry = context.registry.entry(kind, component.id.type) else {
                let hint =
                    context.registry.absenceNote(kind, component.id.type).map { " (\($0))" }
                    ?? StructureChecks.nearest(component.id.type, in: context.registry.types(of: kind))
                    .map { "; did you mean '\($0)'?" } ?? ""
                context.report(
                    .unknownComponentType,
                    "unknown \(kind.rawValue) type '\(component.id.type)'\(hint)", at: component.position,
                    path: component.path)
                continue
            }
            switch entry.status {
            case .removed:
                context.report(
                    .removedComponentType,
                    "\(kind.rawValue) type '\(component.id.type)' was removed: \(replacementAdvice(entry.note))",
                    at: component.position, path: component.path)
                continue
            case .deprecatedAlias:
                context.report(
                    .deprecatedAlias,
                    "'\(component.id.type)' is a deprecated alias; use '\(entry.aliasOf ?? "?")'",
                    at: component.position, path: component.path,
                    severity: context.options.collectorVersionStated ? .warning : nil)
            case .current:
                break
            }
            guard let effective = context.registry.effectiveEntry(kind, component.id.type) else { continue }
            if effective.isUnmaintained {
                context.report(
                    .unmaintainedComponent, "\(kind.rawValue) '\(component.id.type)' is unmaintained",
                    at: component.position, path: component.path)
            }
            let used: [String] =
                kind == .extension
                ? ["extension"] : (signalsByComponent[component.id.description + "@" + kind.rawValue] ?? []).sorted()
            var deprecated: [String] = []
            var unstable: [String] = []
            for signal in used {
                guard let level = effective.levels[signal] else { continue }
                if level == "deprecated" { deprecated.append(signal) }
                if level == "development" || level == "alpha" { unstable.append("\(level) for \(signal)") }
            }
            if !deprecated.isEmpty {
                let advice = deprecationAdvice(effective.note)
                context.report(
                    .deprecatedComponent,
                    "\(kind.rawValue) '\(component.id.type)' is deprecated for \(deprecated.joined(separator: ", "))\(advice)",
                    at: component.position, path: component.path)
            }
            if !unstable.isEmpty {
                context.report(
                    .unstableComponent,
                    "\(kind.rawValue) '\(component.id.type)' is \(unstable.joined(separator: ", "))",
                    at: component.position, path: component.path)
            }
        }
    }

    /// Signals (or connector pairs) each component is used with, keyed `id@kind`.
    static func usedSignals(_ context: CheckContext) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        let connectorUses = ReferenceChecks.connectorUses(context)
        for (pipelineID, pipeline) in context.validPipelines {
            let signal = pipelineID.signal.rawValue
            for ref in pipeline.receivers + pipeline.exporters {
                guard let id = ref.id, !context.config.isConnector(id) else { continue }
                let kind = pipeline.receivers.contains(ref) ? "receiver" : "exporter"
                result["\(id)@\(kind)", default: []].insert(signal)
            }
            for ref in pipeline.processors {
                if let id = ref.id { result["\(id)@processor", default: []].insert(signal) }
            }
        }
        for (id, use) in connectorUses {
            for (from, _) in use.asExporter {
                for (to, _) in use.asReceiver {
                    result["\(id)@connector", default: []].insert("\(from.signal.rawValue)_to_\(to.signal.rawValue)")
                }
            }
        }
        return result
    }

    static func replacementAdvice(_ note: String) -> String {
        let parts = note.split(separator: ";").map { $0.trimmingSpaces }
        let advice = parts.filter { $0 != "contrib" && $0 != "core" && $0 != "removed" && !$0.isEmpty }
        return advice.isEmpty ? "remove it" : advice.joined(separator: "; ")
    }

    static func deprecationAdvice(_ note: String) -> String {
        guard let range = note.firstRange(of: "deprecated for") else { return "" }
        let rest = note[range.lowerBound...]
        guard let colon = rest.firstIndex(of: ":") else { return "" }
        let advice = rest[rest.index(after: colon)...].split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
        return advice.isEmpty ? "" : ": \(advice)"
    }
}
