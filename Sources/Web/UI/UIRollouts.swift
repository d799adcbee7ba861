import Fleet
import Foundation
import Hummingbird

extension UI {
    static func rolloutsPage(_ rollouts: [Rollout], configs: [ConfigVersion], groups: [String], viewer: Viewer) -> HTML
    {
        let rows = HTML.join(
            rollouts.map { r in
                """
                <tr><th scope="row"><a href="/rollouts/\(HTML.component(r.id))">\(r.spec.config) v\(r.spec.version)</a></th>\
                <td>\(rolloutState(r.state))</td><td>\(r.stage + 1) / \(r.stages)</td>\
                <td>\(progress(r.counts[.applied], of: r.counts.targets, label: "Agents applied"))</td>\
                <td>\(r.reason ?? "")</td><td>\(time(r.updatedAt))</td></tr>
                """
            })
        let configOptions = HTML.join(
            configs.sorted { $0.name < $1.name }.map {
                "<option value=\"\($0.name)\" data-version=\"\($0.version)\">\($0.name)</option>"
            })
        let groupOptions = HTML.join(groups.map { "<option value=\"\($0)\">\($0)</option>" })
        let wizard: HTML =
            viewer.canOperate
            ? """
            <section class="card" aria-labelledby="wizard-title"><h2 id="wizard-title">Start a rollout</h2>
            <form class="wizard" data-wizard>
            <fieldset><legend>1. Version</legend>
            <div class="field"><label for="w-config">Config</label><select id="w-config" name="config" required>\(configOptions)</select></div>
            <div class="field"><label for="w-version">Version</label><input id="w-version" name="version" type="number" min="1" required></div>
            </fieldset>
            <fieldset><legend>2. Target</legend>
            <div class="field"><label for="w-group">Group</label><select id="w-group" name="group"><option value="">— use a selector —</option>\(groupOptions)</select></div>
            <div class="field grow"><label for="w-selector">Selector</label><input id="w-selector" name="selector" placeholder="service.name=otelcol, label:env=prod"></div>
            <p class="muted" aria-live="polite" data-match-count>Matching agents: —</p>
            </fieldset>
            <fieldset><legend>3. Strategy and gates</legend>
            <div class="field grow"><label for="w-canary">Canary selector (optional)</label><input id="w-canary" name="canary" \
            placeholder="label:ring=canary" aria-describedby="w-canary-help"></div>
            <p id="w-canary-help" class="help">When set, the first stage is the agents of the target this selector picks.</p>
            <div class="field"><label for="w-unit">Stage sizes in</label><select id="w-unit" name="unit" aria-describedby="w-stages-help">\
            <option value="percent">percent of the target</option><option value="count">numbers of agents</option></select></div>
            <div class="field grow"><label for="w-stages">Stages</label><input id="w-stages" name="stages" value="10, 50, 100" aria-describedby="w-stages-help"></div>
            <p id="w-stages-help" class="help">One stage each, after the canary if any. In percent: growing shares of the \
            target counted from the start (10, 50, 100). In agents: how many more agents each stage takes (5, 20); \
            the agents no stage takes form a last stage.</p>
            <div class="field"><label for="w-soak">Soak seconds</label><input id="w-soak" name="soak" type="number" min="0" max="604800" value="60"></div>
            <div class="field"><label for="w-failed">Pause when failed exceed</label><input id="w-failed" name="maxFailed" value="0" aria-describedby="w-gates-help"></div>
            <div class="field"><label for="w-unhealthy">Pause when unhealthy exceed</label><input id="w-unhealthy" name="maxUnhealthy" value="" aria-describedby="w-gates-help"></div>
            <div class="field"><label for="w-stalled">Pause when stalled exceed</label><input id="w-stalled" name="maxStalled" value="" aria-describedby="w-gates-help"></div>
            <p id="w-gates-help" class="help">Each gate is a number of agents (3) or a percentage of the stage (5%); \
            empty: no gate. Stalled agents gave no outcome within the apply timeout.</p>
            </fieldset>
            <div class="actions"><button type="submit">Start rollout</button></div>
            <p class="notice error" role="alert" data-wizard-error hidden></p>
            </form></section>
            """
            : "<p class=\"muted\">Starting a rollout needs the operator role.</p>"
        return page(
            title: "Rollouts", section: .rollouts, viewer: viewer, live: "/api/v1/events?kind=rollout.progress",
            body: """
                <div class="table-wrap" id="rollouts" data-live><table><caption class="sr">Rollouts</caption>
                <thead><tr><th scope="col">Rollout</th><th scope="col">State</th><th scope="col">Stage</th><th scope="col">Applied</th><th scope="col">Why</th><th scope="col">Updated</th></tr></thead>
                <tbody>\(rows)</tbody></table>
                \(rollouts.isEmpty ? "<p class=\"muted\">No rollout yet.</p>" as HTML : "")</div>
                \(wizard)
                """)
    }

    static func rolloutPage(_ r: Rollout, viewer: Viewer) -> HTML {
        let base = "/api/v1/rollouts/\(HTML.component(r.id))"
        let canary = if case .selector = r.spec.stages.first { true } else { false }
        let stages = HTML.join(
            r.stageCounts.enumerated().map { i, c in
                let marker: HTML = i == r.stage ? " aria-current=\"step\"" : ""
                return """
                    <li\(marker)><h3>Stage \(i + 1)\(i == 0 && canary ? " (canary)" : "")</h3>\
                    \(progress(c[.applied], of: c.targets, label: "Stage \(i + 1) applied"))
                    <p class="counts">\(c.targets) targets · \(c[.applied]) applied · \(c[.applying]) applying · \
                    \(c[.pending]) pending · \(c[.failed]) failed · \(c[.stalled]) stalled · \(c[.rolledBack]) rolled back · \
                    \(c.unhealthy) unhealthy</p></li>
                    """
            })
        let why: HTML =
            r.reason.map {
                "<p class=\"notice \(r.state == .paused ? "warn" : "info")\" data-reason><strong>Why \(r.state == .paused ? "paused" : "stopped"):</strong> \($0)</p>"
            }
            ?? ""
        let active = r.state == .running || r.state == .pending || r.state == .paused
        // Without the script each is a form, sent with the ETag the page showed.
        func act(_ label: String, _ name: String, confirm: String? = nil, tone: String = "secondary") -> HTML {
            action(
                label, url: "\(base)/\(name)", allowed: viewer.canOperate, confirm: confirm, tone: tone,
                form: ("/rollouts/\(HTML.component(r.id))/\(name)", viewer), fields: [("etag", String(r.etag))])
        }
        let actions: HTML = """
            <div class="actions" data-etag="\(r.etag)">
            \(r.state == .running ? act("Pause", "pause") : "")
            \(r.state == .paused ? act("Resume", "resume") : "")
            \(active ? act("Abort", "abort", confirm: "Abort this rollout? Agents keep what they got.") : "")
            \(r.state != .rolledBack && r.rollbackOf == nil ? act("Roll back", "rollback", confirm: "Give every agent of this rollout back what it ran before?", tone: "danger") : "")
            </div>
            """
        return page(
            title: "Rollout of \(r.spec.config) v\(r.spec.version)", section: .rollouts, viewer: viewer,
            live: "/api/v1/events?rollout=\(HTML.component(r.id))",
            body: """
                <div id="rollout" data-live>
                <p class="sub">\(rolloutState(r.state)) stage \(r.stage + 1) of \(r.stages) · soak \(r.spec.soakSeconds) s · <code>\(r.id)</code>\
                \(r.rollbackOf.map { " · rolls back <a href=\"/rollouts/\(HTML.component($0))\">\($0)</a>" as HTML } ?? "")</p>
                <p class="plan" data-plan>\(plan(r.spec))</p>
                \(why)
                \(actions)
                <section class="card"><h2>Overall</h2>\(progress(r.counts[.applied], of: r.counts.targets, label: "Agents applied"))
                <p class="counts">\(r.counts[.failed]) failed · \(r.counts[.stalled]) stalled · \(r.counts[.incompatible]) incompatible · \(r.counts.unhealthy) unhealthy · \(r.counts[.rolledBack]) rolled back</p></section>
                <ol class="stages">\(stages)</ol>
                </div>
                """)
    }

    /// A rollout's stages and gates in words: "Stages: 1 agent, 3 agents · Pause when stalled exceed 2".
    static func plan(_ spec: RolloutSpec) -> HTML {
        let stages = spec.stages.map { stage -> String in
            switch stage {
            case .selector(let pairs):
                "canary " + pairs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            case .percent(let percent): OperatorAPI.percentText(percent)
            case .count(let count): count == 1 ? "1 agent" : "\(count) agents"
            }
        }
        let gates = OperatorAPI.gateList(spec.gates).map { gate in
            "Pause when \(gate.name.dropFirst(3).lowercased()) exceed \(OperatorAPI.gateText(gate.limit))"
        }
        let shown = ["Stages: " + (stages.isEmpty ? "one, of every target" : stages.joined(separator: ", "))] + gates
        return "\(shown.joined(separator: " · "))"
    }

    static func groupsPage(_ groups: [AgentGroup], viewer: Viewer) -> HTML {
        let rows = HTML.join(
            groups.map { g in
                let selector = g.selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: ", ")
                let delete = action(
                    "Delete", method: "DELETE", url: "/api/v1/groups/\(HTML.component(g.name))",
                    allowed: viewer.canOperate, confirm: "Delete group \(g.name)?", then: "/groups?done=delete",
                    tone: "danger", form: ("/groups/\(HTML.component(g.name))/delete", viewer))
                return """
                    <tr><th scope="row"><a href="/agents?group=\(HTML.component(g.name))">\(g.name)</a></th><td><code>\(selector)</code></td>\
                    <td>\(g.description)</td><td>\(g.members.total)</td><td>\(g.members.connected)</td><td>\(g.members.unhealthy)</td>\
                    <td>\(configStatePills(g.members.configStates))</td><td>\(delete)</td></tr>
                    """
            })
        let create: HTML =
            viewer.canOperate
            ? """
            <section class="card"><h2>New group</h2><form class="stack" data-group-form>
            <div class="field"><label for="g-name">Name</label><input id="g-name" name="name" required maxlength="128"></div>
            <div class="field"><label for="g-selector">Selector</label><input id="g-selector" name="selector" required placeholder="service.name=otelcol"></div>
            <div class="field"><label for="g-description">Description</label><input id="g-description" name="description" maxlength="1024"></div>
            <button type="submit">Save group</button><p class="notice error" role="alert" data-form-error hidden></p></form></section>
            """ : ""
        return page(
            title: "Groups", section: .groups, viewer: viewer,
            body: """
                <div class="table-wrap"><table><caption class="sr">Groups</caption>
                <thead><tr><th scope="col">Group</th><th scope="col">Selector</th><th scope="col">Description</th><th scope="col">Agents</th><th scope="col">Connected</th><th scope="col">Unhealthy</th><th scope="col">Config states</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                \(groups.isEmpty ? "<p class=\"muted\">No group yet.</p>" as HTML : "")
                \(create)
                """)
    }

    static func auditPage(_ page: AuditPage, filter: [(String, String)], viewer: Viewer) -> HTML {
        let rows = HTML.join(
            page.items.map { e in
                """
                <tr><td>\(time(e.at))</td><td>\(e.actor) <span class="muted">\(e.role)</span></td><td>\(e.action)</td>\
                <td><code>\(e.target)</code></td><td>\(pill(e.outcome, e.outcome == "ok" ? "ok" : "bad"))</td><td>\(e.detail)</td></tr>
                """
            })
        func field(_ name: String, _ label: String) -> HTML {
            let value = filter.first { $0.0 == name }?.1 ?? ""
            return
                "<div class=\"field\"><label for=\"a-\(name)\">\(label)</label><input id=\"a-\(name)\" name=\"\(name)\" value=\"\(value)\"></div>"
        }
        let next: HTML =
            page.nextCursor.map { cursor in
                "<a class=\"button secondary\" rel=\"next\" href=\"/audit\(HTML.query(filter.map { ($0.0, $0.1) } + [("cursor", String(cursor))]))\">Older entries</a>"
            } ?? ""
        return UI.page(
            title: "Audit log", section: .audit, viewer: viewer,
            body: """
                <form method="get" action="/audit" class="filters" role="search" aria-label="Filter the audit log">
                \(field("actor", "Actor"))\(field("action", "Action"))\(field("target", "Target"))\(field("outcome", "Outcome"))
                <div class="field"><button type="submit">Apply</button></div></form>
                <p class="count"><strong>\(page.total)</strong> entries match.</p>
                <div class="table-wrap"><table><caption class="sr">Audit log</caption>
                <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                <nav class="pager" aria-label="Pages">\(next)</nav>
                """)
    }

    static func tokensPage(_ tokens: [OperatorToken], viewer: Viewer) -> HTML {
        let rows = HTML.join(
            tokens.map { t in
                let revoke: HTML =
                    t.revokedAt == nil
                    ? action(
                        "Revoke", method: "DELETE", url: "/api/v1/access-tokens/\(HTML.component(t.id))",
                        allowed: viewer.isAdmin, confirm: "Revoke token \(t.name)?", then: "/tokens?done=revoke",
                        tone: "danger", form: ("/tokens/\(HTML.component(t.id))/revoke", viewer))
                    : pill("revoked", "muted")
                return """
                    <tr><th scope="row">\(t.name)</th><td>\(t.role.rawValue)</td><td><code>\(t.prefix)…</code></td><td>\(t.createdBy)</td>\
                    <td>\(time(t.createdAt))</td><td>\(time(t.expiresAt))</td><td>\(time(t.lastUsedAt))</td><td>\(revoke)</td></tr>
                    """
            })
        return page(
            title: "Access tokens", section: .tokens, viewer: viewer,
            body: """
                <div class="table-wrap"><table><caption class="sr">Personal access tokens</caption>
                <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Prefix</th><th scope="col">Created by</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                <section class="card"><h2>New token</h2><form class="stack" data-token-form>
                <div class="field"><label for="t-name">Name</label><input id="t-name" name="name" required maxlength="200"></div>
                <div class="field"><label for="t-role">Role</label><select id="t-role" name="role"><option>viewer</option><option>operator</option><option>admin</option></select></div>
                <div class="field"><label for="t-days">Expires after (days, empty: never)</label><input id="t-days" name="days" type="number" min="1" max="3650" value="90"></div>
                <button type="submit">Create token</button>
                <p class="notice error" role="alert" data-form-error hidden></p>
                <div class="notice ok" data-new-token hidden><p>Copy the token now: it is not shown again.</p><code data-token-value></code></div>
                </form></section>
                """)
    }
}

extension OperatorAPI {
    func addUIRolloutRoutes(to router: Router<OperatorContext>) {
        router.get("/rollouts") { request, context in
            let groups = fleet.groupSelectors().map(\.name)
            return Self.html(
                UI.rolloutsPage(
                    fleet.listRollouts(), configs: fleet.listConfigs(), groups: groups,
                    viewer: viewer(request, context)))
        }
        router.get("/rollouts/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let rollout = fleet.rollout(id) else {
                throw APIError(.notFound, "rollout_not_found", "There is no rollout \(id).")
            }
            return Self.html(UI.rolloutPage(rollout, viewer: viewer(request, context)))
        }
        router.get("/groups") { request, context in
            let fleet = fleet
            let groups = await Self.offExecutor { fleet.listGroups() }
            return Self.html(UI.groupsPage(groups, viewer: viewer(request, context)))
        }
        router.get("/audit") { request, context in
            var query = AuditQuery()
            var filter: [(String, String)] = []
            for (key, value) in request.uri.queryParameters where !value.isEmpty {
                let text = String(value)
                switch String(key) {
                case "actor": query.actor = text
                case "action": query.action = text
                case "target": query.target = text
                case "outcome": query.outcome = text
                case "cursor":
                    query.cursor = Int64(text)
                    continue
                default: continue
                }
                filter.append((String(key), text))
            }
            query.limit = 100
            let fleet = fleet
            let chosen = query
            let page = await Self.offExecutor { Result { () throws(StoreError) in try fleet.auditPage(chosen) } }
            switch page {
            case .success(let page):
                return Self.html(UI.auditPage(page, filter: filter, viewer: viewer(request, context)))
            case .failure(let error):
                throw APIError(
                    .serviceUnavailable, "database_unavailable", "The audit log cannot be read now: \(error)")
            }
        }
        router.get("/tokens") { request, context in
            Self.html(UI.tokensPage(fleet.accessTokens(), viewer: viewer(request, context)))
        }
    }
}
