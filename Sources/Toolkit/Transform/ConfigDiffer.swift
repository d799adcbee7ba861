/// How much a change can hurt a running fleet.
public enum Risk: Int, Sendable, Comparable, CaseIterable {
    case low = 1
    case medium, high

    /// Lower-case name for output.
    public var name: String {
        switch self {
        case .low: return "low"
        case .medium: return "medium"
        case .high: return "high"
        }
    }

    public static func < (a: Risk, b: Risk) -> Bool { a.rawValue < b.rawValue }
}

/// One semantic difference between two configs.
public struct ConfigChange: Sendable, Hashable {
    /// Risk rank.
    public var risk: Risk
    /// Change kind (`pipeline-removed`, `endpoint-changed`, …).
    public var kind: String
    /// What changed (`exporters.otlp_grpc`, `service.pipelines.traces`).
    public var subject: String
    /// Details for a reviewer.
    public var detail: String
}

/// Compares two configs by meaning: wiring, components, endpoints and TLS, ranked by risk.
public enum ConfigDiffer {
    /// Changes from `old` to `new`, highest risk first. Deprecated aliases are read as their current names first,
    /// so renaming `otlp` to `otlp_grpc` (what `fix` does) is not a change.
    public static func diff(old: YNode, new: YNode, registry: ComponentRegistry = .builtin) -> [ConfigChange] {
        let a = CollectorConfig(root: Normalizer.canonical(currentNames(old, registry)))
        let b = CollectorConfig(root: Normalizer.canonical(currentNames(new, registry)))
        var changes: [ConfigChange] = []
        let oldPipelines = byKey(a.pipelines, \.key)
        let newPipelines = byKey(b.pipelines, \.key)
        for key in Set(oldPipelines.keys).union(newPipelines.keys).sorted() {
            let subject = "service.pipelines.\(key)"
            guard let before = oldPipelines[key] else {
                changes.append(
                    ConfigChange(risk: .medium, kind: "pipeline-added", subject: subject, detail: "new pipeline"))
                continue
            }
            guard let after = newPipelines[key] else {
                changes.append(
                    ConfigChange(
                        risk: .high, kind: "pipeline-removed", subject: subject,
                        detail: "its data is no longer collected"))
                continue
            }
            for (field, removedRisk) in [("receivers", Risk.high), ("exporters", Risk.high)] {
                let x = (field == "receivers" ? before.receivers : before.exporters).map(\.text)
                let y = (field == "receivers" ? after.receivers : after.exporters).map(\.text)
                for id in x where !y.contains(id) {
                    changes.append(
                        ConfigChange(
                            risk: removedRisk, kind: "\(field.dropLast())-unwired", subject: "\(subject).\(field)",
                            detail: "'\(id)' removed"))
                }
                for id in y where !x.contains(id) {
                    changes.append(
                        ConfigChange(
                            risk: .medium, kind: "\(field.dropLast())-wired", subject: "\(subject).\(field)",
                            detail: "'\(id)' added"))
                }
            }
            let x = before.processors.map(\.text)
            let y = after.processors.map(\.text)
            for id in x where !y.contains(id) {
                let risk: Risk = id.hasPrefix("memory_limiter") ? .high : .medium
                changes.append(
                    ConfigChange(
                        risk: risk, kind: "processor-unwired", subject: "\(subject).processors",
                        detail: "'\(id)' removed"))
            }
            for id in y where !x.contains(id) {
                changes.append(
                    ConfigChange(
                        risk: .medium, kind: "processor-wired", subject: "\(subject).processors",
                        detail: "'\(id)' added"))
            }
            let common = x.filter(y.contains)
            if common != y.filter(x.contains) {
                changes.append(
                    ConfigChange(
                        risk: .medium, kind: "processor-order-changed", subject: "\(subject).processors",
                        detail: "\(common.joined(separator: ", ")) -> \(y.filter(x.contains).joined(separator: ", "))"))
            }
        }
        for kind in ComponentKind.allCases {
            let before = byKey(a.components[kind] ?? [], \.key)
            let after = byKey(b.components[kind] ?? [], \.key)
            for key in Set(before.keys).union(after.keys).sorted() {
                let subject = "\(kind.section).\(key)"
                guard let old = before[key] else {
                    changes.append(
                        ConfigChange(risk: .low, kind: "component-added", subject: subject, detail: "declared"))
                    continue
                }
                guard let new = after[key] else {
                    changes.append(
                        ConfigChange(
                            risk: .medium, kind: "component-removed", subject: subject, detail: "no longer declared"))
                    continue
                }
                changes += settingChanges(old.config, new.config, subject: subject)
            }
        }
        let oldExtensions = a.serviceExtensions.map(\.text)
        let newExtensions = b.serviceExtensions.map(\.text)
        for id in oldExtensions where !newExtensions.contains(id) {
            changes.append(
                ConfigChange(
                    risk: .medium, kind: "extension-disabled", subject: "service.extensions", detail: "'\(id)' removed")
            )
        }
        for id in newExtensions where !oldExtensions.contains(id) {
            changes.append(
                ConfigChange(
                    risk: .low, kind: "extension-enabled", subject: "service.extensions", detail: "'\(id)' added"))
        }
        let oldTelemetry = flatten(a.root["service"]?["telemetry"], prefix: "")
        let newTelemetry = flatten(b.root["service"]?["telemetry"], prefix: "")
        if oldTelemetry != newTelemetry {
            let keys = Set(oldTelemetry.keys).union(newTelemetry.keys).filter { oldTelemetry[$0] != newTelemetry[$0] }
                .sorted()
            changes.append(
                ConfigChange(
                    risk: .low, kind: "telemetry-changed", subject: "service.telemetry",
                    detail: keys.joined(separator: ", ")))
        }
        return changes.sorted { ($0.risk, $1.subject, $1.kind, $1.detail) > ($1.risk, $0.subject, $0.kind, $0.detail) }
    }

    /// `root` with deprecated alias types renamed to their current names, in declarations and in the pipeline and
    /// extension lists that use them (not where the current name is declared too: then both are distinct).
    static func currentNames(_ root: YNode, _ registry: ComponentRegistry) -> YNode {
        guard var pairs = root.pairs else { return root }
        var renames: [ComponentKind: [String: String]] = [:]
        for (section, kind) in Sections.componentSections {
            guard let index = pairs.firstIndex(where: { $0.key == section }),
                var components = pairs[index].value.pairs
            else { continue }
            let declared = Set(components.map(\.key))
            for i in components.indices {
                guard let id = try? ComponentID.parse(components[i].key).get(),
                    let entry = registry.entry(kind, id.type), entry.status == .deprecatedAlias,
                    let target = entry.aliasOf
                else { continue }
                let renamed = ComponentID(type: target, name: id.name).description
                guard !declared.contains(renamed) else { continue }
                renames[kind, default: [:]][components[i].key] = renamed
                components[i].key = renamed
            }
            pairs[index].value.kind = .mapping(components)
        }
        func renamed(_ list: YNode?, _ kinds: [ComponentKind]) -> YNode? {
            guard var list, let items = list.items else { return list }
            list.kind = .sequence(
                items.map { item in
                    guard let text = item.scalar,
                        let name = kinds.lazy.compactMap({ renames[$0]?[text] }).first
                    else { return item }
                    var copy = item
                    copy.kind = .scalar(name, item.style ?? .plain)
                    return copy
                })
            return list
        }
        if let index = pairs.firstIndex(where: { $0.key == "service" }), var service = pairs[index].value.pairs {
            for i in service.indices {
                if service[i].key == "extensions" {
                    service[i].value = renamed(service[i].value, [.extension]) ?? service[i].value
                } else if service[i].key == "pipelines", var pipelines = service[i].value.pairs {
                    for p in pipelines.indices {
                        guard var fields = pipelines[p].value.pairs else { continue }
                        for f in fields.indices {
                            let kinds: [ComponentKind]
                            switch fields[f].key {
                            case "receivers": kinds = [.receiver, .connector]
                            case "processors": kinds = [.processor]
                            case "exporters": kinds = [.exporter, .connector]
                            default: continue
                            }
                            fields[f].value = renamed(fields[f].value, kinds) ?? fields[f].value
                        }
                        pipelines[p].value.kind = .mapping(fields)
                    }
                    service[i].value.kind = .mapping(pipelines)
                }
            }
            pairs[index].value.kind = .mapping(service)
        }
        var copy = root
        copy.kind = .mapping(pairs)
        return copy
    }

    /// First element per key (keys are unique after parsing; duplicates were YAML errors).
    static func byKey<T>(_ items: [T], _ key: (T) -> String) -> [String: T] {
        Dictionary(items.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func settingChanges(_ old: YNode, _ new: YNode, subject: String) -> [ConfigChange] {
        let x = flatten(old, prefix: "")
        let y = flatten(new, prefix: "")
        guard x != y else { return [] }
        var changes: [ConfigChange] = []
        var other: [String] = []
        for key in Set(x.keys).union(y.keys).sorted() where x[key] != y[key] {
            let was = x[key] ?? "(unset)"
            let now = y[key] ?? "(unset)"
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            if leaf.includes("endpoint") || leaf == "listen_address" {
                changes.append(
                    ConfigChange(
                        risk: .high, kind: "endpoint-changed", subject: "\(subject).\(key)", detail: "\(was) -> \(now)")
                )
            } else if key.includes("tls") || leaf == "insecure" || leaf == "insecure_skip_verify" {
                let weakened =
                    (leaf == "insecure" || leaf == "insecure_skip_verify") && now == "true"
                    || (leaf == "min_version" && (now == "1.0" || now == "1.1"))
                changes.append(
                    ConfigChange(
                        risk: weakened ? .high : .medium, kind: weakened ? "tls-weakened" : "tls-changed",
                        subject: "\(subject).\(key)", detail: "\(was) -> \(now)"))
            } else {
                other.append("\(key): \(was) -> \(now)")
            }
        }
        if !other.isEmpty {
            changes.append(
                ConfigChange(
                    risk: .low, kind: "settings-changed", subject: subject, detail: other.joined(separator: "; ")))
        }
        return changes
    }

    /// Leaf values by dotted path (list items as `[i]`).
    static func flatten(_ node: YNode?, prefix: String) -> [String: String] {
        guard let node else { return [:] }
        var out: [String: String] = [:]
        switch node.kind {
        case .mapping(let pairs):
            for pair in pairs {
                out.merge(flatten(pair.value, prefix: prefix.isEmpty ? pair.key : "\(prefix).\(pair.key)")) { x, _ in x
                }
            }
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                out.merge(flatten(item, prefix: "\(prefix)[\(index)]")) { x, _ in x }
            }
            if items.isEmpty { out[prefix] = "[]" }
        case .scalar(let text, _):
            out[prefix] = node.isNull ? "null" : text
        }
        return out
    }

    /// Changes as text, one per line, or as JSON.
    public static func render(_ changes: [ConfigChange], json: Bool) -> String {
        if json {
            let items = changes.map { change in
                JSONText.object([
                    ("risk", JSONText.string(change.risk.name)), ("kind", JSONText.string(change.kind)),
                    ("subject", JSONText.string(change.subject)), ("detail", JSONText.string(change.detail)),
                ])
            }
            return items.isEmpty
                ? "{\"changes\": []}\n" : "{\"changes\": [\n  " + items.joined(separator: ",\n  ") + "\n]}\n"
        }
        if changes.isEmpty { return "no semantic changes\n" }
        return changes.map { "\($0.risk.name.uppercased())\t\($0.kind)\t\($0.subject)\t\($0.detail)" }.joined(
            separator: "\n") + "\n"
    }
}
