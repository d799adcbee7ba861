import Fleet
import Foundation

extension UI {
    /// What the overview shows.
    struct Overview: Sendable {
        var facets: AgentFacets
        var version: String
        var instance: String
        var engine: String
        var uptimeSeconds: Int64
        var ready: Bool
        var databaseBackend: String
        var databaseHealthy: Bool
        var backlogRows: Int
        var rollouts: [Rollout]
    }

    static func overviewPage(_ o: Overview, viewer: Viewer) -> HTML {
        let f = o.facets
        let states = configStateParts(f.configStates)
        let active = o.rollouts.filter { $0.state == .running || $0.state == .paused || $0.state == .pending }
        let rollouts: HTML =
            active.isEmpty
            ? "<p class=\"muted\">No rollout is running.</p>"
            : "<ul class=\"plain\">"
                + HTML.join(
                    active.map { r in
                        """
                        <li><a href="/rollouts/\(HTML.component(r.id))">\(r.spec.config) v\(r.spec.version)</a> \
                        \(rolloutState(r.state)) stage \(r.stage + 1) of \(r.stages)<br>\
                        \(progress(r.counts[.applied], of: r.counts.targets, label: "Agents applied"))\
                        \(r.reason.map { "<br><span class=\"muted\">\($0)</span>" as HTML } ?? "")</li>
                        """
                    }) + "</ul>"
        let hours = o.uptimeSeconds / 3600
        let minutes = (o.uptimeSeconds % 3600) / 60
        return page(
            title: "Overview", section: .overview, viewer: viewer, live: "/api/v1/events",
            body: """
                <div id="overview" data-live>
                <section class="tiles" aria-label="Agents">
                <a class="tile" href="/agents?connected=true"><span class="n">\(f.connected)</span> connected</a>
                <a class="tile" href="/agents?connected=false"><span class="n">\(f.total - f.connected)</span> disconnected</a>
                <a class="tile" href="/agents?healthy=true"><span class="n">\(f.healthy)</span> healthy</a>
                <a class="tile bad" href="/agents?healthy=false"><span class="n">\(f.unhealthy)</span> unhealthy</a>
                </section>
                <div class="grid">
                <section class="card"><h2>Config states</h2>\(bar(states, label: "Agents by config state"))</section>
                <section class="card"><h2>Active rollouts</h2>\(rollouts)</section>
                <section class="card"><h2>Server</h2><dl class="facts">
                <dt>Version</dt><dd>\(o.version)</dd><dt>Instance</dt><dd>\(o.instance.isEmpty ? "—" : o.instance)</dd>
                <dt>Engine</dt><dd>\(o.engine.isEmpty ? "—" : o.engine)</dd><dt>Uptime</dt><dd>\(Int(hours)) h \(Int(minutes)) min</dd>
                <dt>Ready</dt><dd>\(o.ready ? pill("ready", "ok") : pill("not ready", "bad"))</dd>
                <dt>Database</dt><dd>\(o.databaseBackend) \(o.databaseHealthy ? pill("healthy", "ok") : pill("degraded: writes are retried", "bad"))</dd>
                <dt>Persistence backlog</dt><dd>\(o.backlogRows) rows</dd></dl></section>
                </div></div>
                """)
    }

    static func rolloutState(_ state: RolloutState) -> HTML {
        let tone =
            switch state {
            case .running, .pending: "info"
            case .paused: "warn"
            case .completed: "ok"
            case .aborted, .rolledBack: "muted"
            }
        return pill(state.rawValue.replacingOccurrences(of: "_", with: " "), tone)
    }

    // MARK: Agents

    /// The agents list's filters, as they appear in its URL.
    struct AgentFilter: Sendable, Equatable {
        var search = ""
        var connected: Bool?
        var healthy: Bool?
        var configState: ConfigState?
        /// `key=value` pairs, comma separated, as typed.
        var attributes = ""
        var group = ""
        var limit = 50
        var cursor: String?
        var columns: [String] = AgentColumn.defaults
        /// The order, as the API's `sort` spells it.
        var sort = "uid"

        /// The query string of these filters (without the cursor unless `withCursor`).
        func query(withCursor cursor: String? = nil) -> String {
            HTML.query([
                ("search", search.isEmpty ? nil : search), ("connected", connected.map { $0 ? "true" : "false" }),
                ("healthy", healthy.map { $0 ? "true" : "false" }), ("configState", configState?.rawValue),
                ("attributes", attributes.isEmpty ? nil : attributes), ("group", group.isEmpty ? nil : group),
                ("limit", limit == 50 ? nil : String(limit)), ("sort", sort == "uid" ? nil : sort),
                ("columns", columns == AgentColumn.defaults ? nil : columns.joined(separator: ",")),
                ("cursor", cursor),
            ])
        }

        /// The attribute pairs typed as `a=b, c=d`; nil when one is not a pair.
        var attributePairs: [String: String]? { UI.pairs(attributes) }
    }

    /// Pairs typed as `a=b, c=d` (attributes, labels); nil when one is not a pair.
    static func pairs(_ text: String) -> [String: String]? {
        var out: [String: String] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            let key = pair[0].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return nil }
            out[key] = pair[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// The columns one may choose for the agents table.
    enum AgentColumn {
        static let all: [(key: String, title: String)] = [
            ("service", "Service"), ("host", "Host"), ("version", "Version"), ("connection", "Connection"),
            ("health", "Health"), ("config", "Config state"), ("lastSeen", "Last seen"), ("uid", "Instance UID"),
            ("attributes", "All attributes"),
        ]
        static let defaults = ["service", "host", "connection", "health", "config", "lastSeen"]
    }

    static func agentsPage(
        _ page: AgentPage, filter: AgentFilter, groups: [String], problem: String?, viewer: Viewer
    ) -> HTML {
        func option(_ value: String, _ label: String, _ selected: Bool) -> HTML {
            "<option value=\"\(value)\"\(selected ? " selected" : "")>\(label)</option>"
        }
        func tri(_ name: String, _ label: String, _ value: Bool?, _ yes: String, _ no: String) -> HTML {
            """
            <div class="field"><label for="f-\(name)">\(label)</label><select id="f-\(name)" name="\(name)">\
            \(option("", "any", value == nil))\(option("true", yes, value == true))\(option("false", no, value == false))</select></div>
            """
        }
        let stateOptions = HTML.join(
            [option("", "any", filter.configState == nil)]
                + ConfigState.allCases.map { option($0.rawValue, $0.rawValue.lowercased(), filter.configState == $0) })
        let groupOptions = HTML.join(
            [option("", "any", filter.group.isEmpty)] + groups.map { option($0, $0, filter.group == $0) })
        let limitOptions = HTML.join([25, 50, 100, 200].map { option(String($0), String($0), filter.limit == $0) })
        let sortOptions = HTML.join(
            [
                ("uid", "UID"), ("-lastSeen", "last seen, newest first"), ("lastSeen", "last seen, oldest first"),
                ("-firstSeen", "first seen, newest first"), ("firstSeen", "first seen, oldest first"),
            ].map { option($0.0, $0.1, filter.sort == $0.0) })
        let columnChoice = HTML.join(
            AgentColumn.all.map { c in
                let checked: HTML = filter.columns.contains(c.key) ? " checked" : ""
                return
                    "<label class=\"check\"><input type=\"checkbox\" name=\"column\" value=\"\(c.key)\"\(checked)> \(c.title)</label>"
            })
        let chosen = AgentColumn.all.filter { filter.columns.contains($0.key) }
        let headers = HTML.join(chosen.map { "<th scope=\"col\">\($0.title)</th>" })
        let rows = HTML.join(page.items.map { agentRow($0, columns: chosen.map(\.key), selectable: viewer.canOperate) })
        let next: HTML =
            page.nextCursor.map {
                "<a class=\"button secondary\" rel=\"next\" href=\"/agents\(filter.query(withCursor: $0))\">Next page</a>"
            } ?? ""
        let first: HTML =
            filter.cursor != nil ? "<a class=\"button secondary\" href=\"/agents\(filter.query())\">First page</a>" : ""
        let notice: HTML = problem.map { "<p class=\"notice error\" role=\"alert\">\($0)</p>" } ?? ""
        let selectAll: HTML =
            viewer.canOperate
            ? "<th scope=\"col\" class=\"sel\"><input type=\"checkbox\" data-select-all aria-label=\"Select all agents on this page\"></th>"
            : ""
        let selector = filter.attributePairs ?? [:]
        let wholeFilter =
            filter.search.isEmpty && filter.connected == nil && filter.healthy == nil && filter.configState == nil
            && filter.group.isEmpty && filter.attributePairs != nil
        let selectorJSON =
            (try? JSONSerialization.data(
                withJSONObject: ["command": "restart", "selector": selector], options: [.sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let plainSelectorJSON =
            (try? JSONSerialization.data(withJSONObject: selector, options: [.sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // Groups are saved selectors: the agents an attribute filter matches, now and later.
        let saveGroup: HTML =
            wholeFilter && !selector.isEmpty
            ? """
            <form class="inline" data-save-group data-selector="\(plainSelectorJSON)" aria-label="Save this filter as a group">
            <label for="save-group">Save filter as group</label><input id="save-group" name="name" required maxlength="128">
            <button type="submit" class="secondary">Save</button></form>
            """ : ""
        let bulk: HTML =
            viewer.canOperate
            ? """
            <div class="bulk" data-bulk><span class="muted" data-selected-count>0 selected</span>
            <button type="button" class="secondary" data-bulk-command="restart" disabled>Restart selected</button>
            \(wholeFilter ? action("Restart all \(page.total) matching", url: "/api/v1/agents/commands", allowed: true, confirm: "Restart every agent this filter matches (\(page.total))?", body: selectorJSON) : "")
            \(saveGroup)
            </div>
            """ : ""
        return UI.page(
            title: "Agents", section: .agents, viewer: viewer,
            body: """
                <form method="get" action="/agents" class="filters" role="search" aria-label="Filter agents">
                <div class="field grow"><label for="f-search">Search</label>\
                <input id="f-search" type="search" name="search" value="\(filter.search)" placeholder="UID or attribute value" maxlength="256"></div>
                \(tri("connected", "Connection", filter.connected, "connected", "disconnected"))
                \(tri("healthy", "Health", filter.healthy, "healthy", "unhealthy"))
                <div class="field"><label for="f-state">Config state</label><select id="f-state" name="configState">\(stateOptions)</select></div>
                <div class="field"><label for="f-group">Group</label><select id="f-group" name="group">\(groupOptions)</select></div>
                <div class="field grow"><label for="f-attrs">Attributes</label>\
                <input id="f-attrs" name="attributes" value="\(filter.attributes)" placeholder="service.name=otelcol, label:env=prod"></div>
                <div class="field"><label for="f-sort">Order</label><select id="f-sort" name="sort">\(sortOptions)</select></div>
                <div class="field"><label for="f-limit">Per page</label><select id="f-limit" name="limit">\(limitOptions)</select></div>
                <details class="columns"><summary>Columns</summary><fieldset><legend class="sr">Columns to show</legend>\(columnChoice)</fieldset></details>
                <div class="field"><button type="submit">Apply</button></div>
                </form>
                \(notice)
                <p class="count" aria-live="polite"><strong>\(page.total)</strong> agents match.</p>
                \(bulk)
                <div class="table-wrap"><table class="agents"><caption class="sr">Agents</caption>
                <thead><tr>\(selectAll)<th scope="col">Agent</th>\(headers)</tr></thead>
                <tbody>\(rows)</tbody></table></div>
                \(page.items.isEmpty ? "<p class=\"muted\">No agent matches these filters.</p>" as HTML : "")
                <nav class="pager" aria-label="Pages">\(first)\(next)</nav>
                """)
    }

    /// The value of attribute `key`, if the agent has it.
    static func attribute(_ a: AgentSummary, _ key: String) -> String? {
        a.attributes.first { $0.key == key }?.value
    }

    /// What a person calls the agent: its host and service, else its uid.
    static func agentName(_ a: AgentSummary) -> String {
        attribute(a, "host.name") ?? attribute(a, "service.instance.id") ?? attribute(a, "service.name")
            ?? a.instanceUID
    }

    static func agentRow(_ a: AgentSummary, columns: [String], selectable: Bool) -> HTML {
        var cells: [HTML] = []
        for column in columns {
            let cell: HTML =
                switch column {
                case "service": "\(attribute(a, "service.name") ?? "—")"
                case "host": "\(attribute(a, "host.name") ?? "—")"
                case "version": "\(attribute(a, "service.version") ?? "—")"
                case "connection": connection(a.connected)
                case "health": health(a.healthy)
                case "config": configState(a.configState)
                case "lastSeen": time(a.lastSeen)
                case "uid": "<code>\(a.instanceUID)</code>"
                case "attributes":
                    HTML.join(a.attributes.map { "<span class=\"kv\">\($0.key)=\($0.value)</span>" }, separator: " ")
                default: ""
                }
            cells.append(column == "attributes" ? "<td class=\"attrs\">\(cell)</td>" : "<td>\(cell)</td>")
        }
        let select: HTML =
            selectable
            ? "<td class=\"sel\"><input type=\"checkbox\" data-uid=\"\(a.instanceUID)\" aria-label=\"Select \(agentName(a))\"></td>"
            : ""
        return
            "<tr>\(select)<th scope=\"row\"><a href=\"/agents/\(a.instanceUID)\">\(agentName(a))</a></th>\(cells)</tr>"
    }

    // MARK: One agent

    /// What an agent reported besides its status: its available components (OpAMP's JSON, or
    /// why there are none to show) and the custom messages it sent.
    struct AgentReports: Sendable {
        /// `AvailableComponents` as OpAMP's JSON.
        var componentsJSON: String?
        /// Why no components are shown.
        var componentsNote = ""
        var messages: [ReceivedCustomMessage] = []
    }

    /// One agent's page. `graph` is the config version (name, version) its desired config is,
    /// when it is one the fleet knows.
    static func agentPage(
        _ d: AgentDetail, health: Any?, graph: (String, Int64)?, reports: AgentReports, viewer: Viewer
    ) -> HTML {
        let a = d.summary
        let uid = a.instanceUID
        let attributes = HTML.join(a.attributes.map { "<tr><th scope=\"row\">\($0.key)</th><td>\($0.value)</td></tr>" })
        let labels = HTML.join(
            d.labels.sorted { $0.key < $1.key }.map { "<tr><th scope=\"row\">\($0.key)</th><td>\($0.value)</td></tr>" })
        let capabilities = HTML.join(capabilityNames(a.capabilities).map { "<li>\($0)</li>" })
        let history = HTML.join(
            d.history.map { e in
                "<li>\(time(e.at)) <span class=\"kind\">\(e.kind.replacingOccurrences(of: "_", with: " "))</span> \(e.detail)</li>"
            })
        let remote = a.remoteConfigStatus
        let message: HTML =
            a.configMessage.isEmpty ? "" : "<p class=\"notice error\">\(a.configMessage)</p>"
        let remoteError: HTML =
            (remote?.error ?? "").isEmpty
            ? "" : "<dt>Agent's error</dt><dd><pre class=\"wrap\">\(remote?.error ?? "")</pre></dd>"
        let graphHTML: HTML =
            graph.map { name, version in
                let base = "/api/v1/configs/\(HTML.component(name))/versions/\(version)"
                return """
                    <p>Desired config: <a href="/configs/\(HTML.component(name))?version=\(version)">\(name) version \(version)</a></p>
                    <img class="graph" src="\(base)/graph.svg" alt="Pipeline graph of \(name) version \(version)">
                    """
            } ?? "<p class=\"muted\">The desired config is not a version this server knows, or there is none.</p>"
        let base = "/api/v1/agents/\(uid)"
        func act(_ label: String, _ path: String, allowed: Bool, confirm: String? = nil, tone: String = "secondary")
            -> HTML
        {
            action(
                label, url: "\(base)/\(path)", allowed: allowed, confirm: confirm, tone: tone,
                form: ("/agents/\(uid)/\(path)", viewer))
        }
        // A revoked agent is readmitted (its own REST route), not revoked again.
        let revocation: HTML =
            d.revoked
            ? action(
                "Readmit", method: "DELETE", url: "\(base)/revocation", allowed: viewer.isAdmin,
                confirm:
                    "Readmit this agent? It will be able to connect again (its revoked certificates stay refused).",
                form: ("/agents/\(uid)/readmit", viewer))
            : act(
                "Revoke", "revoke", allowed: viewer.isAdmin,
                confirm: "Revoke this agent? It will not be able to connect again until it is readmitted.",
                tone: "danger")
        let revokedBadge: HTML = d.revoked ? " \(pill("revoked", "bad"))" : ""
        return page(
            title: agentName(a), section: .agents, viewer: viewer, live: "/api/v1/events?agent=\(uid)",
            body: """
                <p class="sub" id="agent-status" data-live><code>\(uid)</code> \(connection(a.connected)) \(UI.health(a.healthy)) \(configState(a.configState))\(revokedBadge)</p>
                <div class="actions">
                \(act("Restart", "restart", allowed: viewer.canOperate, confirm: "Restart this agent?"))
                \(act("Reconcile", "reconcile", allowed: viewer.canOperate))
                \(act("Disconnect", "disconnect", allowed: viewer.canOperate, confirm: "Close this agent's connection?"))
                \(revocation)
                </div>
                <div class="grid" id="agent" data-live>
                <section class="card"><h2>Identity</h2><dl class="facts">
                <dt>Instance UID</dt><dd><code>\(uid)</code></dd><dt>Held by</dt><dd>\(d.owner.isEmpty ? "—" : d.owner)</dd>
                <dt>First seen</dt><dd>\(time(a.firstSeen))</dd><dt>Last seen</dt><dd>\(time(a.lastSeen))</dd></dl>
                <h3>Attributes</h3><table class="kvs"><tbody>\(attributes)</tbody></table>
                \(d.descriptionTruncated ? "<p class=\"muted\">Long values of the description were cut.</p>" as HTML : "")
                \(d.labels.isEmpty ? "" : "<h3>Labels</h3><table class=\"kvs\"><tbody>\(labels)</tbody></table>" as HTML)
                </section>
                <section class="card"><h2>Health</h2>\(healthTree(health))</section>
                <section class="card"><h2>Config</h2>\(message)<dl class="facts">
                <dt>State</dt><dd>\(configState(a.configState))</dd>
                <dt>Desired</dt><dd><code class="hash">\(a.desiredConfigHash ?? "—")</code></dd>
                <dt>Effective</dt><dd><code class="hash">\(a.effectiveConfigHash ?? "—")</code></dd>
                <dt>Agent reports</dt><dd>\(remote?.status ?? "UNSET")</dd>\(remoteError)</dl>
                \(graphHTML)</section>
                <section class="card"><h2>Capabilities</h2><ul class="caps">\(capabilities)</ul></section>
                </div>
                <section class="card"><h2>Effective config</h2>
                <div data-effective-config="\(base)/effective-config"><p class="muted">Loading the effective config needs JavaScript.</p></div></section>
                \(componentsSection(reports))
                \(customMessagesSection(d, messages: reports.messages, viewer: viewer))
                <section class="card"><h2>History</h2>\(d.historyComplete ? "" : "<p class=\"muted\">The database cannot be read now: only recent events are shown.</p>" as HTML)
                <ol class="timeline" id="history" data-live>\(history)</ol></section>
                """)
    }

    /// The components the agent's build has, by kind, with their metadata.
    static func componentsSection(_ reports: AgentReports) -> HTML {
        let body: HTML =
            reports.componentsJSON.map { json in
                let parsed = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
                let components = parsed?["components"] as? [String: Any] ?? [:]
                return components.isEmpty
                    ? "<p class=\"muted\">The agent reported no components.</p>" : componentTree(components)
            } ?? "<p class=\"muted\">\(reports.componentsNote)</p>"
        return "<section class=\"card\" data-components><h2>Available components</h2>\(body)</section>"
    }

    /// OpAMP's `ComponentDetails` map as nested lists: names, metadata as `key=value`.
    static func componentTree(_ map: [String: Any], depth: Int = 0) -> HTML {
        let items = HTML.join(
            map.keys.sorted().map { name in
                let node = map[name] as? [String: Any] ?? [:]
                let metadata = HTML.join(
                    (node["metadata"] as? [[String: Any]] ?? []).map { pair in
                        let key = pair["key"] as? String ?? ""
                        // An AnyValue: one member naming its type (`stringValue`, `intValue`, …).
                        let value = (pair["value"] as? [String: Any])?.values.first.map { "\($0)" } ?? ""
                        return " <span class=\"kv\">\(key)=\(value)</span>"
                    })
                let children = node["subComponentMap"] as? [String: Any] ?? [:]
                let nested: HTML = children.isEmpty || depth >= 8 ? "" : componentTree(children, depth: depth + 1)
                return "<li><span class=\"component\">\(name)</span>\(metadata)\(nested)</li>"
            })
        return "<ul class=\"tree\">\(items)</ul>"
    }

    /// The custom messages the agent sent, and (for operators) a form to send it one for a
    /// capability it announced: the only ones it would take.
    static func customMessagesSection(_ d: AgentDetail, messages: [ReceivedCustomMessage], viewer: Viewer) -> HTML {
        let parsed = d.customCapabilitiesJSON.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        let announced = ((parsed as? [String: Any])?["capabilities"] as? [String] ?? []).sorted()
        let uid = d.summary.instanceUID
        let list: HTML =
            announced.isEmpty
            ? "none" : HTML.join(announced.map { "<code>\($0)</code>" }, separator: ", ")
        let rows = HTML.join(
            messages.map { m in
                let text = String(validating: m.data, as: UTF8.self)
                let printable = text.map { !$0.unicodeScalars.contains { $0.value < 32 && $0 != "\n" && $0 != "\t" } }
                let data: HTML =
                    printable == true
                    ? "<code>\(text ?? "")</code>"
                    : "<span class=\"muted\">base64</span> <code>\(Data(m.data).base64EncodedString())</code>"
                let size: HTML =
                    m.data.count < m.size ? "\(m.size) bytes (the first \(m.data.count) kept)" : "\(m.size) bytes"
                return """
                    <tr><td>\(time(m.at))</td><td><code>\(m.capability)</code></td><td>\(m.type)</td>\
                    <td class="wrap">\(data)</td><td>\(size)</td></tr>
                    """
            })
        let table: HTML =
            messages.isEmpty
            ? "<p class=\"muted\">It sent none that this server keeps (capabilities it announces: --custom-capability).</p>"
            : """
            <div class="table-wrap"><table><caption class="sr">Custom messages received</caption>
            <thead><tr><th scope="col">Received</th><th scope="col">Capability</th><th scope="col">Type</th>\
            <th scope="col">Data</th><th scope="col">Size</th></tr></thead><tbody>\(rows)</tbody></table></div>
            """
        let send: HTML
        if !viewer.canOperate {
            send = ""
        } else if announced.isEmpty {
            send = "<p class=\"muted\">It announced no custom capability, so there is nothing to send it.</p>"
        } else {
            let options = HTML.join(announced.map { "<option>\($0)</option>" })
            send = """
                <h3>Send a custom message</h3>
                <form method="post" action="/agents/\(uid)/custom-messages" class="stack" data-custom-message>\(hidden(viewer))
                <div class="field"><label for="m-capability">Capability</label><select id="m-capability" name="capability">\(options)</select></div>
                <div class="field"><label for="m-type">Type</label><input id="m-type" name="type" maxlength="256"></div>
                <div class="field"><label for="m-data">Data (text)</label><textarea id="m-data" name="data" rows="3"></textarea></div>
                <button type="submit">Send</button></form>
                """
        }
        return """
            <section class="card" data-custom-messages><h2>Custom messages</h2>
            <p>Capabilities it announced: \(list)</p>\(table)\(send)</section>
            """
    }

    /// The component health tree of OpAMP's `ComponentHealth` (as canonical JSON), nested lists.
    static func healthTree(_ value: Any?, depth: Int = 0) -> HTML {
        guard let node = value as? [String: Any] else { return "<p class=\"muted\">The agent reports no health.</p>" }
        let healthy = node["healthy"] as? Bool
        let status = node["status"] as? String ?? ""
        let error = node["lastError"] as? String ?? ""
        var line: HTML = "\(UI.health(healthy ?? false))"
        if !status.isEmpty { line = "\(line) <span>\(status)</span>" }
        if !error.isEmpty { line = "\(line) <span class=\"err\">\(error)</span>" }
        let children = (node["componentHealthMap"] as? [String: Any]) ?? [:]
        guard depth < 16, !children.isEmpty else { return depth == 0 ? "<p>\(line)</p>" : line }
        let items = HTML.join(
            children.keys.sorted().map { key in
                "<li><span class=\"component\">\(key)</span> \(healthTree(children[key], depth: depth + 1))</li>"
            })
        return depth == 0 ? "<p>\(line)</p><ul class=\"tree\">\(items)</ul>" : "\(line)<ul class=\"tree\">\(items)</ul>"
    }
}
