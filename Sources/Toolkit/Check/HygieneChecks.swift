/// Pipeline hygiene: processor order, exporter resilience, unused parts, references, OTTL and templates.
enum HygieneChecks {
    /// Processors that must run before batch (the Collector's processor guidance: sampling, filtering and
    /// anything that needs the incoming request's context).
    static let beforeBatch: Set<String> = [
        "filter", "tail_sampling", "probabilistic_sampler", "k8s_attributes", "groupbytrace", "group_by_trace",
    ]

    static func type(_ kind: ComponentKind, _ id: ComponentID, _ context: CheckContext) -> String {
        SettingsChecks.canonicalType(kind, id.type, context.registry)
    }

    static func run(_ context: inout CheckContext) {
        checkPipelines(&context)
        checkExporters(&context)
        checkUnused(&context)
        checkService(&context)
        checkValues(&context)
        checkOTTL(&context)
        if context.sizeBytes > context.options.maxConfigBytes {
            context.report(
                .configTooLarge,
                "the config is \(context.sizeBytes) bytes, above the \(context.options.maxConfigBytes)-byte message limit",
                at: context.config.root.position, path: "")
        }
    }

    static func checkPipelines(_ context: inout CheckContext) {
        let limited = context.validPipelines.filter { _, pipeline in
            pipeline.processors.contains { ref in ref.id.map { type(.processor, $0, context) } == "memory_limiter" }
        }
        for (pipelineID, pipeline) in context.validPipelines {
            let processorTypes = pipeline.processors.map { ref in
                ref.id.map { type(.processor, $0, context) } ?? ref.text
            }
            let fedFromOutside = pipeline.receivers.contains { ref in
                ref.id.map { !context.config.isConnector($0) } ?? false
            }
            if let first = processorTypes.firstIndex(of: "memory_limiter") {
                if first != 0 {
                    let ref = pipeline.processors[first]
                    context.report(
                        .memoryLimiterNotFirst,
                        "memory_limiter is processor #\(first + 1) in '\(pipeline.key)'; it should come first",
                        at: ref.position, path: ref.path)
                }
            } else if fedFromOutside, !pipeline.receivers.isEmpty {
                // A pipeline left out while the config's other pipelines run memory_limiter looks like an
                // omission, which a reviewer asks about; a config without any is a deployment choice (info).
                // Pipelines that only hand data to connectors are limited where the connector delivers it.
                let exportsOut = pipeline.exporters.contains { ref in
                    ref.id.map { !context.config.isConnector($0) } ?? false
                }
                let others = limited.filter { $0.0 != pipelineID }.map { "'\($0.1.key)'" }
                let inconsistent = exportsOut && !others.isEmpty
                context.report(
                    .memoryLimiterMissing,
                    "pipeline '\(pipeline.key)' has no memory_limiter processor"
                        + (inconsistent
                            ? " (\(others.joined(separator: ", ")) \(others.count == 1 ? "has" : "have") one)" : ""),
                    at: pipeline.position, path: pipeline.path, severity: inconsistent ? .warning : nil)
            }
            if let batchIndex = processorTypes.firstIndex(of: "batch") {
                for (index, processorType) in processorTypes.enumerated()
                where index > batchIndex && beforeBatch.contains(processorType) {
                    let ref = pipeline.processors[index]
                    context.report(
                        .batchOrder, "'\(ref.text)' runs after batch in '\(pipeline.key)'; put it before batch",
                        at: ref.position, path: ref.path)
                }
            } else if !pipeline.exporters.isEmpty, fedFromOutside, pipelineID.signal != .profiles,
                !exportsOnlyTo(pullOrDebugExporters, pipeline, context)
            {
                let exportersBatch = pipeline.exporters.contains { ref in
                    guard let id = ref.id, let exporter = context.config.component(.exporter, id) else { return true }
                    return exporter.config["sending_queue"]?["batch"] != nil
                }
                if !exportersBatch {
                    context.report(
                        .batchMissing,
                        "pipeline '\(pipeline.key)' batches neither in a processor nor in its exporters",
                        at: pipeline.position, path: pipeline.path)
                }
            }
            if exportsOnlyTo(debugExporters, pipeline, context) {
                let types = Set(pipeline.exporters.compactMap { $0.id.map { type(.exporter, $0, context) } })
                context.report(
                    .debugOnlyExporter,
                    "pipeline '\(pipeline.key)' only exports to \(types.sorted().joined(separator: ", "))",
                    at: pipeline.position, path: pipeline.path)
            }
            if pipelineID.signal == .profiles, !context.options.featureGates.contains(profilesGate) {
                context.report(
                    .profilesSignal,
                    "profiles pipeline '\(pipeline.key)' needs the \(profilesGate) feature gate; run the Collector "
                        + "(and ampora-tool) with --feature-gates=\(profilesGate), or remove the pipeline",
                    at: pipeline.position, path: pipeline.path)
            }
        }
    }

    static let profilesGate = "service.profilesSupport"
    /// Exporters that only print or discard.
    static let debugExporters: Set<String> = ["debug", "nop", "logging"]
    /// Exporters that only print or discard, or that are scraped (nothing is sent, so there is nothing to batch).
    static let pullOrDebugExporters: Set<String> = debugExporters.union(["prometheus"])

    /// True when every exporter of the pipeline is a declared exporter (not a connector) of one of `types`.
    static func exportsOnlyTo(_ types: Set<String>, _ pipeline: Pipeline, _ context: CheckContext) -> Bool {
        var declared = 0
        for ref in pipeline.exporters {
            guard let id = ref.id else { continue }
            if context.config.isConnector(id) { return false }
            guard context.config.component(.exporter, id) != nil else { continue }
            guard types.contains(type(.exporter, id, context)) else { return false }
            declared += 1
        }
        return declared > 0
    }

    static func usedIDs(_ context: CheckContext) -> Set<String> {
        var used: Set<String> = []
        for pipeline in context.config.pipelines {
            for ref in pipeline.receivers { used.insert("receiver:" + (ref.id?.description ?? ref.text)) }
            for ref in pipeline.processors { used.insert("processor:" + (ref.id?.description ?? ref.text)) }
            for ref in pipeline.exporters { used.insert("exporter:" + (ref.id?.description ?? ref.text)) }
        }
        return used
    }

    static func checkExporters(_ context: inout CheckContext) {
        for exporter in context.config.components[.exporter] ?? [] {
            let config = exporter.config
            if let retry = config["retry_on_failure"]?.pair("enabled"), retry.value.scalar == "false" {
                context.report(
                    .exporterRetryDisabled, "exporter '\(exporter.id)' drops data on the first failed send",
                    at: retry.value.position, path: "\(exporter.path).retry_on_failure.enabled")
            }
            if let queue = config["sending_queue"] {
                if let enabled = queue.pair("enabled"), enabled.value.scalar == "false" {
                    context.report(
                        .exporterQueueDisabled, "exporter '\(exporter.id)' sends without a queue",
                        at: enabled.value.position, path: "\(exporter.path).sending_queue.enabled")
                }
                if let size = queue.pair("queue_size"), let value = size.value.scalar.flatMap({ Int($0) }) {
                    let consumers = queue["num_consumers"]?.scalar.flatMap { Int($0) } ?? 10
                    if value < consumers || value > 1_000_000 {
                        let reason =
                            value < consumers
                            ? "smaller than its \(consumers) consumers"
                            : "so large it can exhaust memory during an outage"
                        context.report(
                            .queueSizing, "exporter '\(exporter.id)' queue_size \(value) is \(reason)",
                            at: size.value.position, path: "\(exporter.path).sending_queue.queue_size")
                    }
                }
            }
            if type(.exporter, exporter.id, context) == "debug", let verbosity = config.pair("verbosity"),
                verbosity.value.scalar == "detailed"
            {
                context.report(
                    .debugVerbosityDetailed, "debug exporter '\(exporter.id)' logs every item in detail",
                    at: verbosity.value.position, path: "\(exporter.path).verbosity")
            }
        }
        for processor in context.config.components[.processor] ?? []
        where type(.processor, processor.id, context) == "tail_sampling" {
            if (processor.config["policies"]?.items ?? []).isEmpty {
                context.report(
                    .tailSamplingNoPolicies, "tail_sampling '\(processor.id)' has no policies",
                    at: processor.position, path: processor.path)
            }
        }
    }

    static func checkUnused(_ context: inout CheckContext) {
        let used = usedIDs(context)
        // A list only known at run time could use anything of its kind.
        var opaque: Set<ComponentKind> = []
        if context.config.root["service"]?["pipelines"]?.isOpaqueReference == true {
            opaque = Set(ComponentKind.allCases)
        }
        for pipeline in context.config.pipelines {
            if pipeline.node["receivers"]?.isOpaqueReference == true { opaque.formUnion([.receiver, .connector]) }
            if pipeline.node["processors"]?.isOpaqueReference == true { opaque.insert(.processor) }
            if pipeline.node["exporters"]?.isOpaqueReference == true { opaque.formUnion([.exporter, .connector]) }
        }
        for component in context.config.allComponents
        where component.kind != .extension && !opaque.contains(component.kind) {
            let id = component.id.description
            let isUsed =
                component.kind == .connector
                ? used.contains("receiver:" + id) || used.contains("exporter:" + id)
                : used.contains("\(component.kind.rawValue):" + id)
            if !isUsed {
                context.report(
                    .unusedComponent,
                    "\(component.kind.rawValue) '\(component.id)' is declared but no pipeline uses it",
                    at: component.position, path: component.path)
            }
        }
        let enabled = Set(context.config.serviceExtensions.compactMap { $0.id })
        // An extension a component names is refused by `unresolved-extension` at the reference; one finding each.
        let named = Set(ReferenceChecks.extensionReferences(context).compactMap(\.ref.id))
        for component in context.config.components[.extension] ?? []
        where !enabled.contains(component.id) && !named.contains(component.id) {
            context.report(
                .extensionNotEnabled, "extension '\(component.id)' is declared but not listed in service.extensions",
                at: component.position, path: component.path)
        }
    }

    static func checkService(_ context: inout CheckContext) {
        let root = context.config.root
        if let address = root["service"]?["telemetry"]?["metrics"]?.pair("address") {
            if context.options.collectorVersion >= SettingsChecks.metricsAddressRemoved {
                context.report(
                    .removedSetting,
                    "'service.telemetry.metrics.address' was removed in \(SettingsChecks.metricsAddressRemoved); "
                        + "configure 'readers' with a pull exporter (prometheus host and port) instead",
                    at: address.keyPosition, path: "service.telemetry.metrics.address")
            } else {
                context.report(
                    .telemetryMetricsAddress,
                    "'address' is deprecated (removed in \(SettingsChecks.metricsAddressRemoved)); "
                        + "use service.telemetry.metrics.readers",
                    at: address.keyPosition, path: "service.telemetry.metrics.address")
            }
        }
        guard !context.config.pipelines.isEmpty else { return }
        let health = context.config.serviceExtensions.contains { ref in
            guard let id = ref.id else { return false }
            let kind = type(.extension, id, context)
            return kind == "health_check" || kind == "healthcheckv2" || kind == "health_check_v2"
        }
        if !health, let service = root.pair("service") {
            context.report(
                .healthCheckMissing, "no health_check extension is enabled", at: service.keyPosition,
                path: "service.extensions")
        }
    }

    /// Checks on every scalar value: references and template markers.
    static func checkValues(_ context: inout CheckContext) {
        let environment = context.options.environment
        var findings: [(RuleID, String, SourcePosition, String)] = []
        Walker.scalars(context.config.root, path: "") { node, path in
            guard let text = node.scalar, node.style != nil else { return }
            if text.includes("{{"), text.includes("}}") {
                findings.append(
                    (.templateMarker, "unrendered template marker in '\(text.prefix(60))'", node.position, path))
            }
            guard text.includes("$") else { return }
            for piece in ReferenceScanner.pieces(text) {
                switch piece {
                case .literal: break
                case .malformed(let raw, let offset):
                    findings.append(
                        (
                            .invalidReference, "malformed reference '\(raw)'; write $$ for a literal '$'",
                            column(node, offset), path
                        ))
                case .reference(let reference):
                    if reference.form == .bare {
                        findings.append(
                            (
                                .bareEnvVar,
                                "'\(reference.raw)' is used literally; write ${env:\(reference.name)} (or $$ for a literal '$')",
                                column(node, reference.offset), path
                            ))
                    } else if context.options.reportUnsetEnvironment, reference.scheme == "env",
                        reference.defaultValue == nil, environment.values[reference.name] == nil
                    {
                        findings.append(
                            (
                                .envUnsetNoDefault, "\(reference.raw) is not set and has no default",
                                column(node, reference.offset), path
                            ))
                    }
                }
            }
        }
        Walker.pairs(context.config.root, path: "") { pair, path in
            if pair.key.includes("{{"), pair.key.includes("}}") {
                findings.append(
                    (.templateMarker, "unrendered template marker in key '\(pair.key)'", pair.keyPosition, path))
            }
        }
        for (rule, message, position, path) in findings { context.report(rule, message, at: position, path: path) }
    }

    /// The column of a character inside a one-line scalar; multi-line scalars point at their start.
    static func column(_ node: YNode, _ offset: Int) -> SourcePosition {
        guard let text = node.scalar, !text.includes("\n") else { return node.position }
        var position = node.position
        switch node.style {
        case .plain: position.column += offset
        case .singleQuoted, .doubleQuoted: position.column += offset + 1
        default: return node.position
        }
        return position
    }

    /// OTTL statement lists, found by where the transform, filter and routing components keep them.
    static func ottlLists(_ context: CheckContext) -> [(YNode, String)] {
        var lists: [(YNode, String)] = []
        for component in context.config.allComponents {
            let kind = type(component.kind, component.id, context)
            let config = component.config
            switch (component.kind, kind) {
            case (.processor, "transform"):
                for key in [
                    "trace_statements", "metric_statements", "log_statements", "profile_statements", "statements",
                ] {
                    guard let list = config[key], let items = list.items else { continue }
                    let path = "\(component.path).\(key)"
                    var direct: [YNode] = []
                    for (index, item) in items.enumerated() {
                        if item.pairs != nil, item["statements"] != nil || item["context"] != nil {
                            for sub in ["statements", "conditions"] {
                                if let node = item[sub] { lists.append((node, "\(path)[\(index)].\(sub)")) }
                            }
                        } else {
                            direct.append(item)
                        }
                    }
                    if !direct.isEmpty { lists.append((list, path)) }
                }
            case (.processor, "filter"):
                for (signal, subs) in [
                    ("traces", ["span", "spanevent"]), ("metrics", ["metric", "datapoint"]), ("logs", ["log_record"]),
                    ("profiles", ["profile"]),
                ] {
                    for sub in subs {
                        if let node = config[signal]?[sub] {
                            lists.append((node, "\(component.path).\(signal).\(sub)"))
                        }
                    }
                }
                for key in ["trace_conditions", "metric_conditions", "log_conditions", "profile_conditions"] {
                    if let node = config[key] { lists.append((node, "\(component.path).\(key)")) }
                }
            case (.connector, "routing"):
                for (index, route) in (config["table"]?.items ?? []).enumerated() {
                    for key in ["statement", "condition"] {
                        if let node = route[key] { lists.append((node, "\(component.path).table[\(index)].\(key)")) }
                    }
                }
            default:
                break
            }
        }
        return lists
    }

    /// For a plain OTTL statement that YAML cut at ` #`: what YAML read and the statement as written (to the end of
    /// its line). A plain scalar ends at ` #`; when the part read leaves a string literal or a bracket open, the
    /// comment was part of the statement.
    static func cutStatement(_ item: YNode, _ sources: [String: SourceText]) -> (read: String, written: String)? {
        guard item.style == .plain, !item.isNull, let text = item.scalar, !text.includes("\n"),
            !isBalanced(text), let line = sources[item.position.file]?.line(item.position.line)
        else { return nil }
        let scalars = Array(line.unicodeScalars)
        let start = item.position.column - 1
        guard start >= 0, start < scalars.count else { return nil }
        let rest = String(String.UnicodeScalarView(scalars[start...])).trimmingSpaces
        guard rest.count > text.count, rest.hasPrefix(text), rest.dropFirst(text.count).hasPrefix(" #") else {
            return nil
        }
        return (text, rest)
    }

    /// True when double-quoted strings are closed and brackets match, ignoring brackets inside strings.
    static func isBalanced(_ text: String) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for c in text.unicodeScalars {
            if inString {
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
                continue
            }
            switch c {
            case "\"": inString = true
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            default: break
            }
        }
        return !inString && depth == 0
    }

    static func checkOTTL(_ context: inout CheckContext) {
        for (node, path) in ottlLists(context) {
            let entries: [(YNode, String)] =
                node.items.map { items in items.enumerated().map { ($1, "\(path)[\($0)]") } } ?? [(node, path)]
            for (item, itemPath) in entries {
                if let pairs = item.pairs, item["statements"] == nil, item["context"] == nil {
                    let key = pairs.first?.key ?? ""
                    context.report(
                        .ottlMisread,
                        "YAML read this OTTL statement as a map (key '\(key.prefix(50))'); quote the whole statement",
                        at: item.position, path: itemPath)
                } else if let cut = cutStatement(item, context.sources) {
                    context.report(
                        .ottlUnquoted,
                        "YAML ends this plain statement at ' #', so the processor gets '\(cut.read.prefix(60))'; "
                            + "quote the whole statement",
                        at: item.position, path: itemPath)
                }
            }
        }
    }
}
