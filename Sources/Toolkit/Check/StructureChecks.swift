/// What the Collector's own config validation refuses: shapes, IDs, required settings.
enum StructureChecks {
    static let serviceKeys: Set<String> = ["extensions", "pipelines", "telemetry"]
    static let telemetryKeys: Set<String> = ["logs", "metrics", "traces", "resource"]
    static let pipelineKeys: Set<String> = ["receivers", "processors", "exporters"]

    static func run(_ context: inout CheckContext) {
        let root = context.config.root
        guard let pairs = root.pairs, !pairs.isEmpty else {
            context.report(
                .configEmpty, "the config is \(root.shapeName), not a map of sections", at: root.position, path: "")
            return
        }
        for pair in pairs where !Sections.all.contains(pair.key) && !context.registry.extraSections.contains(pair.key) {
            let hint = nearest(pair.key, in: Sections.all).map { "; did you mean '\($0)'?" } ?? ""
            context.report(
                .unknownTopLevelKey, "'\(pair.key)' is not a Collector config section\(hint)",
                at: pair.keyPosition, path: pair.key)
        }
        for (section, kind) in Sections.componentSections {
            guard let pair = root.pair(section), !pair.value.isNull, !pair.value.isOpaqueReference else { continue }
            guard let components = pair.value.pairs else {
                context.report(
                    .sectionShape, "'\(section)' must be a map of component IDs, not \(pair.value.shapeName)",
                    at: pair.value.position, path: section)
                continue
            }
            for component in components {
                let path = "\(section).\(component.key)"
                if case .failure(let error) = ComponentID.parse(component.key) {
                    context.report(
                        .invalidComponentID, "\(kind.rawValue) ID '\(component.key)': \(error.message)",
                        at: component.keyPosition, path: path)
                }
                if !component.value.isNull, component.value.pairs == nil {
                    context.report(
                        .sectionShape,
                        "settings of \(kind.rawValue) '\(component.key)' must be a map, not \(component.value.shapeName)",
                        at: component.value.position, path: path)
                }
            }
        }
        checkService(&context)
    }

    static func checkService(_ context: inout CheckContext) {
        let root = context.config.root
        guard let service = root.pair("service") else {
            context.report(.noPipelines, "there is no 'service' section, so no pipeline", at: root.position, path: "")
            return
        }
        if service.value.isOpaqueReference { return }
        guard let servicePairs = service.value.pairs else {
            context.report(
                .sectionShape, "'service' must be a map, not \(service.value.shapeName)", at: service.value.position,
                path: "service")
            return
        }
        for pair in servicePairs where !serviceKeys.contains(pair.key) {
            context.report(
                .invalidServiceSection, "'service.\(pair.key)' is not a service setting", at: pair.keyPosition,
                path: "service.\(pair.key)")
        }
        if let telemetry = service.value.pair("telemetry"), !telemetry.value.isNull {
            if let telemetryPairs = telemetry.value.pairs {
                for pair in telemetryPairs where !telemetryKeys.contains(pair.key) {
                    context.report(
                        .invalidServiceSection,
                        "'service.telemetry.\(pair.key)' is not a telemetry setting (logs, metrics, traces, resource)",
                        at: pair.keyPosition, path: "service.telemetry.\(pair.key)")
                }
            } else {
                context.report(
                    .invalidServiceSection, "'service.telemetry' must be a map", at: telemetry.value.position,
                    path: "service.telemetry")
            }
        }
        if let extensions = service.value.pair("extensions"), !extensions.value.isNull,
            !extensions.value.isOpaqueReference
        {
            checkIDList(extensions.value, path: "service.extensions", &context)
        }
        if service.value["pipelines"]?.isOpaqueReference == true { return }
        guard let pipelines = service.value.pair("pipelines"), let pipelinePairs = pipelines.value.pairs,
            !pipelinePairs.isEmpty
        else {
            let node = service.value.pair("pipelines")
            if let node, !node.value.isNull, node.value.pairs == nil {
                context.report(
                    .sectionShape, "'service.pipelines' must be a map, not \(node.value.shapeName)",
                    at: node.value.position, path: "service.pipelines")
            } else {
                context.report(
                    .noPipelines,
                    "'service.pipelines' is missing or empty: the Collector needs at least one pipeline",
                    at: node?.keyPosition ?? service.keyPosition, path: "service.pipelines")
            }
            return
        }
        for pair in pipelinePairs {
            let path = "service.pipelines.\(pair.key)"
            if case .failure(let error) = PipelineID.parse(pair.key) {
                context.report(
                    .invalidPipelineID, "pipeline ID '\(pair.key)': \(error.message)", at: pair.keyPosition,
                    path: path)
            }
            if pair.value.isOpaqueReference { continue }
            guard let fields = pair.value.isNull ? [] : pair.value.pairs else {
                context.report(
                    .sectionShape, "pipeline '\(pair.key)' must be a map, not \(pair.value.shapeName)",
                    at: pair.value.position, path: path)
                continue
            }
            for field in fields {
                if !pipelineKeys.contains(field.key) {
                    context.report(
                        .sectionShape, "'\(field.key)' is not a pipeline field (receivers, processors, exporters)",
                        at: field.keyPosition, path: "\(path).\(field.key)")
                } else if !field.value.isNull, !field.value.isOpaqueReference {
                    checkIDList(field.value, path: "\(path).\(field.key)", &context)
                }
            }
            let receivers = pair.value["receivers"]?.items ?? []
            if receivers.isEmpty, pair.value["receivers"]?.isOpaqueReference != true {
                context.report(
                    .pipelineNoReceivers, "pipeline '\(pair.key)' has no receivers", at: pair.keyPosition, path: path
                )
            }
            let exporters = pair.value["exporters"]?.items ?? []
            if exporters.isEmpty, pair.value["exporters"]?.isOpaqueReference != true {
                context.report(
                    .pipelineNoExporters, "pipeline '\(pair.key)' has no exporters", at: pair.keyPosition, path: path
                )
            }
        }
        for pipeline in context.config.pipelines {
            let lists: [(refs: [ComponentRef], rule: RuleID, role: String)] = [
                (pipeline.receivers, .duplicatePipelineEntry, "receiver"),
                (pipeline.processors, .duplicateProcessor, "processor"),
                (pipeline.exporters, .duplicatePipelineEntry, "exporter"),
            ]
            for (refs, rule, role) in lists {
                var seen: Set<String> = []
                for ref in refs {
                    let key = ref.id?.description ?? ref.text
                    if !seen.insert(key).inserted {
                        context.report(
                            rule, "\(role) '\(key)' is listed more than once in pipeline '\(pipeline.key)'",
                            at: ref.position, path: ref.path)
                    }
                }
            }
        }
    }

    static func checkIDList(_ node: YNode, path: String, _ context: inout CheckContext) {
        guard let items = node.items else {
            context.report(
                .sectionShape, "'\(path)' must be a list of component IDs, not \(node.shapeName)", at: node.position,
                path: path)
            return
        }
        for (index, item) in items.enumerated() {
            guard let text = item.scalar, !item.isNull else {
                context.report(
                    .sectionShape, "'\(path)[\(index)]' must be a component ID, not \(item.shapeName)",
                    at: item.position, path: "\(path)[\(index)]")
                continue
            }
            if case .failure(let error) = ComponentID.parse(text) {
                context.report(
                    .invalidComponentID, "'\(text)': \(error.message)", at: item.position, path: "\(path)[\(index)]")
            }
        }
    }

    static func nearest(_ word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= max(2, word.count / 3) }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
