/// The Collector's runtime graph: receivers shared per (signal, id), processors per pipeline, exporters shared per
/// (signal, id), connectors bridging pipelines.
public struct PipelineGraph: Sendable {
    /// A node's state, for highlighting.
    public enum Status: String, Sendable {
        case ok
        /// Referenced by a pipeline but never declared.
        case missing
        /// Declared but used by no pipeline.
        case unused
    }

    /// A graph node.
    public struct Node: Sendable, Hashable {
        /// Unique id (`receiver/otlp@traces`, `processor/batch@traces/2`, `connector/count@traces->metrics`).
        public var id: String
        /// Component kind.
        public var kind: ComponentKind
        /// Component ID as written.
        public var component: String
        /// Signal(s) or pipeline the node belongs to, for the label.
        public var scope: String
        /// State.
        public var status: Status
    }

    /// A directed edge, labelled with the pipeline it belongs to.
    public struct Edge: Sendable, Hashable {
        /// Source node id.
        public var from: String
        /// Target node id.
        public var to: String
        /// The pipeline.
        public var pipeline: String
        /// Part of a cycle through connectors.
        public var inCycle: Bool
    }

    /// Nodes in first-seen order.
    public var nodes: [Node] = []
    /// Edges in first-seen order.
    public var edges: [Edge] = []
    /// Pipelines in key order with the nodes (processors) that belong only to them.
    public var pipelines: [(key: String, nodes: [String])] = []

    /// Builds the graph of a config.
    public init(_ config: CollectorConfig) {
        var index: [String: Int] = [:]
        func add(_ node: Node) {
            if index[node.id] == nil {
                index[node.id] = nodes.count
                nodes.append(node)
            }
        }
        func status(_ kind: ComponentKind, _ ref: ComponentRef) -> Status {
            guard let id = ref.id else { return .missing }
            return config.component(kind, id) != nil || config.isConnector(id) ? .ok : .missing
        }
        // Connector nodes exist per (id, from-signal, to-signal); collect receiving pipelines first.
        var receivingSignals: [String: [Signal]] = [:]
        var exportingSignals: [String: [Signal]] = [:]
        for pipeline in config.pipelines {
            guard let signal = pipeline.id?.signal else { continue }
            for ref in pipeline.receivers where ref.id.map(config.isConnector) == true {
                receivingSignals[ref.text, default: []].append(signal)
            }
            for ref in pipeline.exporters where ref.id.map(config.isConnector) == true {
                exportingSignals[ref.text, default: []].append(signal)
            }
        }
        func connectorID(_ name: String, _ from: Signal, _ to: Signal) -> String {
            "connector/\(name)@\(from.rawValue)->\(to.rawValue)"
        }
        var rawEdges: [(String, String, String)] = []
        for pipeline in config.pipelines.sorted(by: { $0.key < $1.key }) {
            guard let signal = pipeline.id?.signal else { continue }
            // A pipeline's ends: shared receivers/exporters, or one connector node per signal pair on the other side.
            func ends(_ refs: [ComponentRef], kind: ComponentKind, otherSide: [String: [Signal]]) -> [String] {
                var ids: [String] = []
                for ref in refs {
                    if ref.id.map(config.isConnector) == true {
                        for other in Set(otherSide[ref.text] ?? []).sorted() {
                            let (from, to) = kind == .receiver ? (other, signal) : (signal, other)
                            let id = connectorID(ref.text, from, to)
                            add(
                                Node(
                                    id: id, kind: .connector, component: ref.text,
                                    scope: "\(from.rawValue)->\(to.rawValue)", status: .ok))
                            ids.append(id)
                        }
                    } else {
                        let id = "\(kind.rawValue)/\(ref.text)@\(signal.rawValue)"
                        add(
                            Node(
                                id: id, kind: kind, component: ref.text, scope: signal.rawValue,
                                status: status(kind, ref)))
                        ids.append(id)
                    }
                }
                return ids
            }
            let entries = ends(pipeline.receivers, kind: .receiver, otherSide: exportingSignals)
            var chain: [String] = []
            for ref in pipeline.processors {
                let id = "processor/\(ref.text)@\(pipeline.key)"
                add(
                    Node(
                        id: id, kind: .processor, component: ref.text, scope: pipeline.key,
                        status: status(.processor, ref)))
                chain.append(id)
            }
            let exits = ends(pipeline.exporters, kind: .exporter, otherSide: receivingSignals)
            pipelines.append((pipeline.key, chain))
            let firsts = chain.first.map { [$0] } ?? exits
            for entry in entries { for first in firsts { rawEdges.append((entry, first, pipeline.key)) } }
            for (a, b) in zip(chain, chain.dropFirst()) { rawEdges.append((a, b, pipeline.key)) }
            if let last = chain.last { for exit in exits { rawEdges.append((last, exit, pipeline.key)) } }
        }
        var seenEdges: Set<String> = []
        for (from, to, pipeline) in rawEdges where seenEdges.insert("\(from)|\(to)|\(pipeline)").inserted {
            edges.append(Edge(from: from, to: to, pipeline: pipeline, inCycle: false))
        }
        markCycles()
        let usedReceivers = Set(config.pipelines.flatMap(\.receivers).map(\.text))
        let usedProcessors = Set(config.pipelines.flatMap(\.processors).map(\.text))
        let usedExporters = Set(config.pipelines.flatMap(\.exporters).map(\.text))
        for component in config.allComponents where component.kind != .extension {
            let used: Bool
            switch component.kind {
            case .receiver: used = usedReceivers.contains(component.key)
            case .processor: used = usedProcessors.contains(component.key)
            case .exporter: used = usedExporters.contains(component.key)
            default: used = usedReceivers.contains(component.key) || usedExporters.contains(component.key)
            }
            if !used {
                add(
                    Node(
                        id: "\(component.kind.rawValue)/\(component.key)", kind: component.kind,
                        component: component.key, scope: "unused", status: .unused))
            }
        }
    }

    /// Pipelines with no processors: no cluster of boxes carries their name, so renderers label their edges.
    public var pipelinesWithoutProcessors: Set<String> {
        Set(pipelines.filter { $0.nodes.isEmpty }.map(\.key))
    }

    /// Marks edges inside strongly connected components (Tarjan), which are exactly the edges on cycles.
    mutating func markCycles() {
        var adjacency: [String: [String]] = [:]
        for edge in edges { adjacency[edge.from, default: []].append(edge.to) }
        var indexOf: [String: Int] = [:]
        var lowlink: [String: Int] = [:]
        var onStack: Set<String> = []
        var stack: [String] = []
        var component: [String: Int] = [:]
        var counter = 0
        var componentCount = 0
        func strongConnect(_ v: String) {
            indexOf[v] = counter
            lowlink[v] = counter
            counter += 1
            stack.append(v)
            onStack.insert(v)
            for w in adjacency[v] ?? [] {
                if indexOf[w] == nil {
                    strongConnect(w)
                    lowlink[v] = min(lowlink[v]!, lowlink[w]!)
                } else if onStack.contains(w) {
                    lowlink[v] = min(lowlink[v]!, indexOf[w]!)
                }
            }
            if lowlink[v] == indexOf[v] {
                while let w = stack.popLast() {
                    onStack.remove(w)
                    component[w] = componentCount
                    if w == v { break }
                }
                componentCount += 1
            }
        }
        for node in nodes where indexOf[node.id] == nil { strongConnect(node.id) }
        for i in edges.indices where component[edges[i].from] == component[edges[i].to] {
            edges[i].inCycle = true
        }
    }

    /// Node ids in a left-to-right layering (longest path from the sources, ignoring cycle edges).
    public func layers() -> [[Node]] {
        var layer: [String: Int] = [:]
        var incoming: [String: [String]] = [:]
        for edge in edges where !edge.inCycle { incoming[edge.to, default: []].append(edge.from) }
        func depth(_ id: String, _ visiting: inout Set<String>) -> Int {
            if let known = layer[id] { return known }
            guard visiting.insert(id).inserted else { return 0 }
            let value = (incoming[id] ?? []).map { depth($0, &visiting) + 1 }.max() ?? 0
            layer[id] = value
            return value
        }
        var visiting: Set<String> = []
        for node in nodes { _ = depth(node.id, &visiting) }
        let count = (layer.values.max() ?? 0) + 1
        var result = Array(repeating: [Node](), count: count)
        for node in nodes { result[layer[node.id] ?? 0].append(node) }
        return result.filter { !$0.isEmpty }
    }
}
