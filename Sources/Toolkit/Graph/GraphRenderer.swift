/// Graph output formats.
public enum GraphFormat: String, Sendable, CaseIterable {
    case dot, mermaid, json, svg
}

/// Renders a `PipelineGraph`; every format is deterministic for a given config.
public enum GraphRenderer {
    /// Renders in `format`.
    public static func render(_ graph: PipelineGraph, format: GraphFormat) -> String {
        switch format {
        case .dot: return dot(graph)
        case .mermaid: return mermaid(graph)
        case .json: return json(graph)
        case .svg: return SVGRenderer.render(graph)
        }
    }

    static func label(_ node: PipelineGraph.Node) -> String {
        let status = node.status == .missing ? " (missing)" : ""
        return "\(node.kind.rawValue)\n\(node.component)\n\(node.scope)\(status)"
    }

    static func dotQuoted(_ text: String) -> String {
        "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
    }

    /// Graphviz DOT: processors clustered per pipeline, shared receivers and exporters outside.
    public static func dot(_ graph: PipelineGraph) -> String {
        var out = "digraph collector {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        let clustered = Set(graph.pipelines.flatMap(\.nodes))
        func nodeLine(_ node: PipelineGraph.Node, indent: String) -> String {
            var attributes = ["label=\(dotQuoted(label(node)))"]
            switch node.status {
            case .missing: attributes.append("color=red, style=\"rounded,dashed\"")
            case .unused: attributes.append("color=gray, fontcolor=gray")
            case .ok: break
            }
            if node.kind == .connector { attributes.append("shape=hexagon") }
            return "\(indent)\(dotQuoted(node.id)) [\(attributes.joined(separator: ", "))];\n"
        }
        for node in graph.nodes where !clustered.contains(node.id) { out += nodeLine(node, indent: "  ") }
        for (index, pipeline) in graph.pipelines.enumerated() where !pipeline.nodes.isEmpty {
            out += "  subgraph cluster_\(index) {\n    label=\(dotQuoted(pipeline.key));\n"
            for id in pipeline.nodes {
                if let node = graph.nodes.first(where: { $0.id == id }) { out += nodeLine(node, indent: "    ") }
            }
            out += "  }\n"
        }
        for edge in graph.edges {
            let style = edge.inCycle ? ", color=red, penwidth=2" : ""
            out += "  \(dotQuoted(edge.from)) -> \(dotQuoted(edge.to)) [tooltip=\(dotQuoted(edge.pipeline))\(style)];\n"
        }
        return out + "}\n"
    }

    /// Mermaid flowchart with a subgraph per pipeline.
    public static func mermaid(_ graph: PipelineGraph) -> String {
        var ids: [String: String] = [:]
        for (index, node) in graph.nodes.enumerated() { ids[node.id] = "n\(index)" }
        func text(_ node: PipelineGraph.Node) -> String {
            let escaped = label(node).replacing("\"", with: "#quot;").replacing("\n", with: "<br/>")
            switch node.kind {
            case .connector: return "\(ids[node.id]!){{\"\(escaped)\"}}"
            default: return "\(ids[node.id]!)[\"\(escaped)\"]"
            }
        }
        var out = "flowchart LR\n"
        let clustered = Set(graph.pipelines.flatMap(\.nodes))
        for node in graph.nodes where !clustered.contains(node.id) { out += "  \(text(node))\n" }
        for (index, pipeline) in graph.pipelines.enumerated() where !pipeline.nodes.isEmpty {
            out += "  subgraph p\(index)[\"\(pipeline.key)\"]\n"
            for id in pipeline.nodes {
                if let node = graph.nodes.first(where: { $0.id == id }) { out += "    \(text(node))\n" }
            }
            out += "  end\n"
        }
        var cycleLinks: [Int] = []
        for (index, edge) in graph.edges.enumerated() {
            out += "  \(ids[edge.from]!) --> \(ids[edge.to]!)\n"
            if edge.inCycle { cycleLinks.append(index) }
        }
        for node in graph.nodes {
            switch node.status {
            case .missing: out += "  style \(ids[node.id]!) stroke:#d00,stroke-dasharray:4\n"
            case .unused: out += "  style \(ids[node.id]!) stroke:#999,color:#999\n"
            case .ok: break
            }
        }
        if !cycleLinks.isEmpty {
            out += "  linkStyle \(cycleLinks.map(String.init).joined(separator: ",")) stroke:#d00,stroke-width:2px\n"
        }
        return out
    }

    /// Nodes, edges and pipelines as JSON.
    public static func json(_ graph: PipelineGraph) -> String {
        let nodes = graph.nodes.map { node in
            JSONText.object([
                ("id", JSONText.string(node.id)), ("kind", JSONText.string(node.kind.rawValue)),
                ("component", JSONText.string(node.component)), ("scope", JSONText.string(node.scope)),
                ("status", JSONText.string(node.status.rawValue)),
            ])
        }
        let edges = graph.edges.map { edge in
            JSONText.object([
                ("from", JSONText.string(edge.from)), ("to", JSONText.string(edge.to)),
                ("pipeline", JSONText.string(edge.pipeline)), ("cycle", String(edge.inCycle)),
            ])
        }
        let pipelines = graph.pipelines.map { pipeline in
            JSONText.object([
                ("id", JSONText.string(pipeline.key)),
                ("processors", JSONText.array(pipeline.nodes.map(JSONText.string))),
            ])
        }
        return "{\n  \"nodes\": [\n    " + nodes.joined(separator: ",\n    ") + "\n  ],\n  \"edges\": [\n    "
            + edges.joined(separator: ",\n    ") + "\n  ],\n  \"pipelines\": [\n    "
            + pipelines.joined(separator: ",\n    ") + "\n  ]\n}\n"
    }
}

/// Lays the graph out in columns (longest path from the receivers) and draws it as standalone SVG, so no
/// Graphviz is needed and the web UI can embed the same picture.
enum SVGRenderer {
    static let boxWidth = 190
    static let boxHeight = 54
    static let columnGap = 70
    static let rowGap = 18
    static let margin = 20

    static func render(_ graph: PipelineGraph) -> String {
        let layers = placed(graph.layers(), graph)
        var origin: [String: (x: Int, y: Int)] = [:]
        var height = 0
        for (column, nodes) in layers.enumerated() {
            for (node, row) in nodes {
                let x = margin + column * (boxWidth + columnGap)
                let y = margin + row * (boxHeight + rowGap)
                origin[node.id] = (x, y)
                height = max(height, y + boxHeight + margin)
            }
        }
        let width = max(margin * 2 + layers.count * (boxWidth + columnGap) - columnGap, 200)
        height = max(height, 80)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>
            <marker id="arrow-cycle" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#d00"/></marker></defs>
            <rect width="100%" height="100%" fill="white"/>

            """
        for edge in graph.edges {
            guard let a = origin[edge.from], let b = origin[edge.to] else { continue }
            let x1 = a.x + boxWidth
            let y1 = a.y + boxHeight / 2
            let x2 = b.x
            let y2 = b.y + boxHeight / 2
            let color = edge.inCycle ? "#d00" : "#555"
            let marker = edge.inCycle ? "arrow-cycle" : "arrow"
            let path: String
            if x2 > x1 {
                let mid = (x1 + x2) / 2
                path = "M \(x1) \(y1) C \(mid) \(y1), \(mid) \(y2), \(x2) \(y2)"
            } else {
                // Back edges (cycles) loop below the boxes.
                let low = max(a.y, b.y) + boxHeight + rowGap / 2
                path = "M \(x1) \(y1) C \(x1 + 40) \(low), \(x2 - 40) \(low), \(x2) \(y2)"
            }
            out +=
                "<path d=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(edge.inCycle ? 2 : 1.2)\" marker-end=\"url(#\(marker))\"><title>\(xml(edge.pipeline))</title></path>\n"
        }
        for node in graph.nodes {
            guard let o = origin[node.id] else { continue }
            let fill: String
            switch node.kind {
            case .receiver: fill = "#e3f2fd"
            case .processor: fill = "#fff8e1"
            case .exporter: fill = "#e8f5e9"
            case .connector: fill = "#f3e5f5"
            case .extension: fill = "#eeeeee"
            }
            var stroke = "#555"
            var dash = ""
            var textColor = "#222"
            switch node.status {
            case .missing:
                stroke = "#d00"
                dash = " stroke-dasharray=\"5,3\""
            case .unused:
                stroke = "#aaa"
                textColor = "#999"
            case .ok:
                break
            }
            out += "<g><title>\(xml(node.id))</title>"
            out +=
                "<rect x=\"\(o.x)\" y=\"\(o.y)\" width=\"\(boxWidth)\" height=\"\(boxHeight)\" rx=\"8\" fill=\"\(fill)\" stroke=\"\(stroke)\"\(dash)/>"
            let status = node.status == .missing ? " (missing)" : ""
            let lines = [node.kind.rawValue, truncate(node.component), truncate(node.scope + status)]
            for (index, line) in lines.enumerated() {
                let weight = index == 1 ? " font-weight=\"bold\"" : ""
                out +=
                    "<text x=\"\(o.x + boxWidth / 2)\" y=\"\(o.y + 16 + index * 15)\" text-anchor=\"middle\" fill=\"\(textColor)\"\(weight)>\(xml(line))</text>"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// Places each column's boxes at the mean row of their predecessors (one barycenter pass), pushed down
    /// only as far as needed to not overlap, so a pipeline's boxes tend to stay on one row and edges cross less.
    static func placed(_ layers: [[PipelineGraph.Node]], _ graph: PipelineGraph) -> [[(
        node: PipelineGraph.Node, row: Int
    )]] {
        var row: [String: Int] = [:]
        var predecessors: [String: [String]] = [:]
        for edge in graph.edges where !edge.inCycle { predecessors[edge.to, default: []].append(edge.from) }
        var result: [[(node: PipelineGraph.Node, row: Int)]] = []
        for layer in layers {
            let wanted = layer.enumerated().map { index, node -> (Double, Int, PipelineGraph.Node) in
                let known = (predecessors[node.id] ?? []).compactMap { row[$0] }
                let key = known.isEmpty ? Double(index) : Double(known.reduce(0, +)) / Double(known.count)
                return (key, index, node)
            }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            var next = 0
            var column: [(node: PipelineGraph.Node, row: Int)] = []
            for (key, _, node) in wanted {
                let assigned = max(Int(key.rounded()), next)
                row[node.id] = assigned
                next = assigned + 1
                column.append((node, assigned))
            }
            result.append(column)
        }
        return result
    }

    static func truncate(_ text: String) -> String { text.count > 28 ? String(text.prefix(27)) + "…" : text }

    static func xml(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
            .replacing("\"", with: "&quot;")
    }
}
