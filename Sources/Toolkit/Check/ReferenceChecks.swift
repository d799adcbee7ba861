/// Wiring the Collector checks when it builds its pipeline graph: references, connectors, signals, cycles.
enum ReferenceChecks {
    static func run(_ context: inout CheckContext) {
        let config = context.config
        for ref in config.serviceExtensions {
            guard let id = ref.id else { continue }
            if config.component(.extension, id) == nil, config.root["extensions"]?.isOpaqueReference != true {
                context.report(
                    .undeclaredExtension, "extension '\(id)' is enabled in service.extensions but not declared",
                    at: ref.position, path: ref.path)
            }
        }
        for connector in config.components[.connector] ?? [] {
            for kind in [ComponentKind.receiver, .exporter] where config.component(kind, connector.id) != nil {
                context.report(
                    .connectorIDClash, "connector '\(connector.id)' has the same ID as a declared \(kind.rawValue)",
                    at: connector.position, path: connector.path)
            }
        }
        for (pipelineID, pipeline) in context.validPipelines {
            let roles: [(refs: [ComponentRef], kinds: [ComponentKind], role: String)] = [
                (pipeline.receivers, [.receiver, .connector], "receiver"),
                (pipeline.processors, [.processor], "processor"),
                (pipeline.exporters, [.exporter, .connector], "exporter"),
            ]
            for (refs, kinds, role) in roles {
                for ref in refs {
                    guard let id = ref.id else { continue }
                    let unknowable = kinds.contains { config.root[$0.section]?.isOpaqueReference == true }
                    guard let declared = kinds.lazy.compactMap({ config.component($0, id) }).first else {
                        if unknowable { continue }
                        context.report(
                            .undeclaredComponent,
                            "pipeline '\(pipeline.key)' uses \(role) '\(id)', which is not declared under '\(kinds[0].section)'"
                                + (kinds.count > 1 ? " or 'connectors'" : ""),
                            at: ref.position, path: ref.path)
                        continue
                    }
                    if declared.kind != .connector {
                        checkSignal(declared, signal: pipelineID.signal, ref: ref, &context)
                    }
                }
            }
        }
        checkConnectors(&context)
        checkExtensionReferences(&context)
    }

    /// Settings that name an extension: where they sit and what the Collector says when it is missing.
    static func extensionReferences(_ context: CheckContext) -> [(ref: ComponentRef, setting: String)] {
        var found: [(ComponentRef, String)] = []
        for component in context.config.allComponents {
            Walker.pairs(component.config, path: component.path) { pair, path in
                let parent = Secrets.lastKey(String(path.dropLast(pair.key.count + 1)))
                var texts: [(YNode, String)] = []
                switch pair.key {
                case "authenticator" where parent == "auth": texts = [(pair.value, path)]
                case "storage": texts = [(pair.value, path)]
                case "watch_observers":
                    texts = (pair.value.items ?? []).enumerated().map { ($1, "\(path)[\($0)]") }
                case "encoding":
                    // Built-in encodings (`otlp_proto`) are names, not extensions; only extension types count.
                    guard let text = pair.value.scalar, let id = try? ComponentID.parse(text).get(),
                        context.registry.entry(.extension, id.type)?.type.includes("encoding") == true
                            || context.config.component(.extension, id) != nil
                    else { return }
                    texts = [(pair.value, path)]
                default: return
                }
                for (node, itemPath) in texts {
                    guard let text = node.scalar, !node.isNull, !text.includes("$"),
                        let id = try? ComponentID.parse(text).get()
                    else { continue }
                    found.append(
                        (ComponentRef(text: text, id: id, position: node.position, path: itemPath), pair.key))
                }
            }
        }
        return found
    }

    /// `auth.authenticator`, `storage`, encoding extensions and `watch_observers` must name a running extension.
    static func checkExtensionReferences(_ context: inout CheckContext) {
        let root = context.config.root
        guard root["extensions"]?.isOpaqueReference != true,
            root["service"]?["extensions"]?.isOpaqueReference != true
        else { return }
        let enabled = Set(context.config.serviceExtensions.compactMap(\.id))
        for (ref, setting) in extensionReferences(context) {
            guard let id = ref.id else { continue }
            if context.config.component(.extension, id) == nil {
                context.report(
                    .unresolvedExtension,
                    "'\(setting)' names extension '\(id)', which is not declared; declare it under 'extensions' "
                        + "and list it in service.extensions",
                    at: ref.position, path: ref.path)
            } else if !enabled.contains(id) {
                context.report(
                    .unresolvedExtension,
                    "'\(setting)' names extension '\(id)', which is declared but not started; add it to "
                        + "service.extensions",
                    at: ref.position, path: ref.path)
            }
        }
    }

    static func checkSignal(_ component: Component, signal: Signal, ref: ComponentRef, _ context: inout CheckContext) {
        guard let entry = context.registry.effectiveEntry(component.kind, component.id.type), !entry.levels.isEmpty
        else { return }
        if entry.levels[signal.rawValue] == nil {
            let supported = entry.levels.keys.sorted().joined(separator: ", ")
            context.report(
                .componentSignalUnsupported,
                "\(component.kind.rawValue) '\(component.id)' does not support \(signal.rawValue) (it supports \(supported))",
                at: ref.position, path: ref.path)
        }
    }

    /// Connector wiring: which pipelines each connector feeds and is fed by.
    struct ConnectorUse {
        var asExporter: [(PipelineID, ComponentRef)] = []
        var asReceiver: [(PipelineID, ComponentRef)] = []
    }

    static func connectorUses(_ context: CheckContext) -> [ComponentID: ConnectorUse] {
        var uses: [ComponentID: ConnectorUse] = [:]
        for (pipelineID, pipeline) in context.validPipelines {
            for ref in pipeline.exporters {
                if let id = ref.id, context.config.isConnector(id) {
                    uses[id, default: .init()].asExporter.append((pipelineID, ref))
                }
            }
            for ref in pipeline.receivers {
                if let id = ref.id, context.config.isConnector(id) {
                    uses[id, default: .init()].asReceiver.append((pipelineID, ref))
                }
            }
        }
        return uses
    }

    static func checkConnectors(_ context: inout CheckContext) {
        let uses = connectorUses(context)
        for id in uses.keys.sorted() {
            let use = uses[id]!
            let entry = context.registry.effectiveEntry(.connector, id.type)
            let pairs = entry.map { Set($0.levels.keys) } ?? []
            func supported(_ from: Signal, _ to: Signal) -> Bool {
                pairs.isEmpty || pairs.contains("\(from.rawValue)_to_\(to.rawValue)")
            }
            let sides = [
                (use.asExporter, use.asReceiver, "an exporter", "a receiver"),
                (use.asReceiver, use.asExporter, "a receiver", "an exporter"),
            ]
            if let (used, _, role, missing) = sides.first(where: { $0.1.isEmpty }) {
                for (pipelineID, ref) in used {
                    context.report(
                        .connectorOneSided,
                        "connector '\(id)' is \(role) in '\(pipelineID)' but no pipeline uses it as \(missing)",
                        at: ref.position, path: ref.path)
                }
                continue
            }
            for (pipelineID, ref) in use.asExporter
            where !use.asReceiver.contains(where: { supported(pipelineID.signal, $0.0.signal) }) {
                context.report(
                    .connectorSignalUnsupported,
                    "connector '\(id)' cannot take \(pipelineID.signal.rawValue) from '\(pipelineID)' to any pipeline it feeds"
                        + supportedText(pairs),
                    at: ref.position, path: ref.path)
            }
            for (pipelineID, ref) in use.asReceiver
            where !use.asExporter.contains(where: { supported($0.0.signal, pipelineID.signal) }) {
                context.report(
                    .connectorSignalUnsupported,
                    "connector '\(id)' cannot produce \(pipelineID.signal.rawValue) for '\(pipelineID)' from any pipeline feeding it"
                        + supportedText(pairs),
                    at: ref.position, path: ref.path)
            }
        }
        checkCycles(uses, &context)
    }

    static func supportedText(_ pairs: Set<String>) -> String {
        pairs.isEmpty ? "" : " (supports \(pairs.sorted().joined(separator: ", ")))"
    }

    /// Pipelines joined by connectors must form a DAG; each cycle is reported once, at the connector that closes it.
    static func checkCycles(_ uses: [ComponentID: ConnectorUse], _ context: inout CheckContext) {
        var edges: [PipelineID: [(PipelineID, ComponentRef)]] = [:]
        for (_, use) in uses {
            for (from, ref) in use.asExporter {
                for (to, _) in use.asReceiver { edges[from, default: []].append((to, ref)) }
            }
        }
        for key in edges.keys { edges[key]!.sort { ($0.0, $0.1.path) < ($1.0, $1.1.path) } }
        enum Mark { case visiting, done }
        var marks: [PipelineID: Mark] = [:]
        var stack: [PipelineID] = []
        var reported: Set<String> = []
        func visit(_ node: PipelineID) {
            marks[node] = .visiting
            stack.append(node)
            for (next, ref) in edges[node] ?? [] {
                switch marks[next] {
                case .visiting:
                    let start = stack.firstIndex(of: next)!
                    let cycle = (stack[start...] + [next]).map(\.description).joined(separator: " -> ")
                    if reported.insert(ref.path).inserted {
                        context.report(
                            .connectorCycle, "connector '\(ref.text)' closes a cycle: \(cycle)", at: ref.position,
                            path: ref.path)
                    }
                case .done:
                    break
                case nil:
                    visit(next)
                }
            }
            stack.removeLast()
            marks[node] = .done
        }
        for (id, _) in context.validPipelines.sorted(by: { $0.0 < $1.0 }) where marks[id] == nil { visit(id) }
    }
}
