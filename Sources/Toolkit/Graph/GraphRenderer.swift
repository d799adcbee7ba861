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
        let unclustered = graph.pipelinesWithoutProcessors
        for edge in graph.edges {
            let style = edge.inCycle ? ", color=red, penwidth=2" : ""
            // A pipeline with no processors has no cluster to carry its name, so its edges do.
            let label = unclustered.contains(edge.pipeline) ? ", label=\(dotQuoted(edge.pipeline))" : ""
            out +=
                "  \(dotQuoted(edge.from)) -> \(dotQuoted(edge.to)) [tooltip=\(dotQuoted(edge.pipeline))\(label)\(style)];\n"
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
        let unclustered = graph.pipelinesWithoutProcessors
        for (index, edge) in graph.edges.enumerated() {
            let label =
                unclustered.contains(edge.pipeline) ? "|\"\(edge.pipeline.replacing("\"", with: "#quot;"))\"|" : ""
            out += "  \(ids[edge.from]!) -->\(label) \(ids[edge.to]!)\n"
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
/// Graphviz is needed and the web UI can embed the same picture. An edge that spans several columns passes
/// through a free slot in each column it crosses (so never through a box), boxes are as wide as their longest
/// name, and edges of a pipeline without processors carry the pipeline's name.
enum SVGRenderer {
    static let minBoxWidth = 190
    static let boxHeight = 54
    static let columnGap = 80
    static let rowGap = 18
    static let margin = 20
    /// Vertical distance between the levels of cycle edges below the boxes (room for a label under each).
    static let cycleGap = 22

    /// Where each forward edge enters its target: edges into one box are spread over its left side, in the
    /// order they arrive from top to bottom, so that their arrowheads do not pile up on one point.
    static func entryHeights(
        _ graph: PipelineGraph, position: [String: (x: Int, y: Int, width: Int)], waypoints: [Int: [String]]
    ) -> [Int: Int] {
        var incoming: [String: [(from: Int, edge: Int)]] = [:]
        for (index, edge) in graph.edges.enumerated() where !edge.inCycle {
            let last = waypoints[index]?.last ?? edge.from
            guard let origin = position[last], position[edge.to] != nil else { continue }
            incoming[edge.to, default: []].append((origin.y, index))
        }
        var result: [Int: Int] = [:]
        for (target, edges) in incoming where edges.count > 1 {
            guard let box = position[target] else { continue }
            let ordered = edges.sorted { ($0.from, $0.edge) < ($1.from, $1.edge) }
            for (rank, item) in ordered.enumerated() {
                result[item.edge] = box.y + 6 + (boxHeight - 12) * (rank + 1) / (ordered.count + 1)
            }
        }
        return result
    }
    /// Helvetica at 12 px averages under 7 px per character; bold names get a little more.
    static let charWidth = 7.5

    /// A slot in a column: a node's box, or a waypoint of an edge crossing the column.
    struct Slot {
        var id: String
        var node: PipelineGraph.Node?
    }

    static func lines(_ node: PipelineGraph.Node) -> [String] {
        [node.kind.rawValue, node.component, node.scope + (node.status == .missing ? " (missing)" : "")]
    }

    static func render(_ graph: PipelineGraph) -> String {
        let layers = graph.layers()
        var column: [String: Int] = [:]
        for (index, layer) in layers.enumerated() { for node in layer { column[node.id] = index } }
        var slots: [[Slot]] = layers.map { $0.map { Slot(id: $0.id, node: $0) } }
        var predecessors: [String: [String]] = [:]
        var waypoints: [Int: [String]] = [:]
        for (index, edge) in graph.edges.enumerated() where !edge.inCycle {
            guard let from = column[edge.from], let to = column[edge.to] else { continue }
            var previous = edge.from
            if to > from + 1 {
                for crossed in (from + 1)..<to {
                    let id = "\u{1}\(index)@\(crossed)"
                    slots[crossed].append(Slot(id: id, node: nil))
                    predecessors[id] = [previous]
                    waypoints[index, default: []].append(id)
                    previous = id
                }
            }
            predecessors[edge.to, default: []].append(previous)
        }
        let rows = placed(slots, predecessors)
        var widths = slots.map { column in
            column.compactMap(\.node).map { node in
                Int((Double(lines(node).map(\.count).max() ?? 0) * charWidth).rounded(.up)) + 20
            }.max() ?? minBoxWidth
        }
        widths = widths.map { max($0, minBoxWidth) }
        var left: [Int] = []
        var x = margin
        for width in widths {
            left.append(x)
            x += width + columnGap
        }
        var position: [String: (x: Int, y: Int, width: Int)] = [:]
        var bottom = 0
        for (index, column) in slots.enumerated() {
            for slot in column {
                let y = margin + (rows[slot.id] ?? 0) * (boxHeight + rowGap)
                position[slot.id] = (left[index], y, widths[index])
                bottom = max(bottom, y + boxHeight)
            }
        }
        // Back edges (cycles) run below every box, each on its own level so that two cycles between the same
        // boxes (and their labels) do not draw over each other.
        let cycleLevel = Dictionary(
            uniqueKeysWithValues: graph.edges.indices.filter { graph.edges[$0].inCycle }.enumerated().map { ($1, $0) })
        let below = bottom + rowGap
        let width = max(x - columnGap + margin + 6 * max(cycleLevel.count - 1, 0), 200)
        let height = max((cycleLevel.isEmpty ? bottom : below + cycleLevel.count * cycleGap) + margin, 80)
        let entries = entryHeights(graph, position: position, waypoints: waypoints)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>
            <marker id="arrow-cycle" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#d00"/></marker></defs>
            <rect width="100%" height="100%" fill="white"/>

            """
        let unclustered = graph.pipelinesWithoutProcessors
        for (index, edge) in graph.edges.enumerated() {
            guard let a = position[edge.from], let b = position[edge.to] else { continue }
            let color = edge.inCycle ? "#d00" : "#555"
            let marker = edge.inCycle ? "arrow-cycle" : "arrow"
            var path: String
            var labelAt = (x: 0, y: 0)
            if edge.inCycle {
                let x1 = a.x + a.width
                let y1 = a.y + boxHeight / 2
                let y2 = b.y + boxHeight / 2
                // Straight segments in the gaps beside the columns and along this edge's own level below every
                // box, so no box is crossed (a curve bulging down would cut the boxes under its ends).
                let k = cycleLevel[index] ?? 0
                let level = below + k * cycleGap
                let right = x1 + 14 + 6 * k
                let left = max(b.x - 10 - 3 * k, 3)
                path =
                    "M \(x1) \(y1) L \(right) \(y1) L \(right) \(level) L \(left) \(level) L \(left) \(y2) L \(b.x) \(y2)"
                labelAt = ((left + right) / 2, level + 12)
            } else {
                // From the source's right side through each waypoint's slot to the target's left side.
                var points = [(a.x + a.width, a.y + boxHeight / 2)]
                for id in waypoints[index] ?? [] {
                    guard let w = position[id] else { continue }
                    points.append((w.x, w.y + boxHeight / 2))
                    points.append((w.x + w.width, w.y + boxHeight / 2))
                }
                points.append((b.x, entries[index] ?? b.y + boxHeight / 2))
                path = "M \(points[0].0) \(points[0].1)"
                for i in 1..<points.count {
                    let (x1, y1) = points[i - 1]
                    let (x2, y2) = points[i]
                    if y1 == y2 || i % 2 == 0 && i < points.count - 1 {
                        path += " L \(x2) \(y2)"
                    } else {
                        let mid = (x1 + x2) / 2
                        path += " C \(mid) \(y1), \(mid) \(y2), \(x2) \(y2)"
                    }
                }
                labelAt = (
                    (points[points.count - 2].0 + points[points.count - 1].0) / 2, points[points.count - 1].1 - 4
                )
            }
            out +=
                "<path d=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(edge.inCycle ? 2 : 1.2)\" marker-end=\"url(#\(marker))\"><title>\(xml(edge.pipeline))</title></path>\n"
            if unclustered.contains(edge.pipeline) {
                out +=
                    "<text x=\"\(labelAt.x)\" y=\"\(labelAt.y)\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">\(xml(edge.pipeline))</text>\n"
            }
        }
        for node in graph.nodes {
            guard let o = position[node.id] else { continue }
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
            let text = lines(node)
            out += "<g><title>\(xml(text.joined(separator: " ")))</title>"
            out +=
                "<rect x=\"\(o.x)\" y=\"\(o.y)\" width=\"\(o.width)\" height=\"\(boxHeight)\" rx=\"8\" fill=\"\(fill)\" stroke=\"\(stroke)\"\(dash)/>"
            for (index, line) in text.enumerated() {
                let weight = index == 1 ? " font-weight=\"bold\"" : ""
                out +=
                    "<text x=\"\(o.x + o.width / 2)\" y=\"\(o.y + 16 + index * 15)\" text-anchor=\"middle\" fill=\"\(textColor)\"\(weight)>\(xml(line))</text>"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// Places each column's slots at the mean row of their predecessors (one barycenter pass), pushed down only
    /// as far as needed to not overlap, so a pipeline's boxes tend to stay on one row and edges cross less.
    static func placed(_ columns: [[Slot]], _ predecessors: [String: [String]]) -> [String: Int] {
        var row: [String: Int] = [:]
        for column in columns {
            let wanted = column.enumerated().map { index, slot -> (Double, Int, String) in
                let known = (predecessors[slot.id] ?? []).compactMap { row[$0] }
                let key = known.isEmpty ? Double(index) : Double(known.reduce(0, +)) / Double(known.count)
                return (key, index, slot.id)
            }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            var next = 0
            for (key, _, id) in wanted {
                let assigned = max(Int(key.rounded()), next)
                row[id] = assigned
                next = assigned + 1
            }
        }
        return row
    }

    static func xml(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
            .replacing("\"", with: "&quot;")
    }
}
