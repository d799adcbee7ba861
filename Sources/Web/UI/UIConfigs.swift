import Fleet
import Foundation
import Hummingbird

extension UI {
    static func configsPage(_ configs: [ConfigVersion], viewer: Viewer) -> HTML {
        let rows = HTML.join(
            configs.sorted { $0.name < $1.name }.map { c in
                """
                <tr><th scope="row"><a href="/configs/\(HTML.component(c.name))">\(c.name)</a></th>\
                <td>\(c.version)</td><td><code class="hash">\(String(c.hash.prefix(12)))</code></td><td>\(time(c.updatedAt))</td></tr>
                """
            })
        let create: HTML =
            viewer.canOperate
            ? """
            <form method="get" action="/configs" class="inline card" aria-label="New config">
            <label for="new-name">New config</label>
            <input id="new-name" name="create" required maxlength="128" pattern="[A-Za-z0-9._-]+" placeholder="name (letters, digits, . _ -)">
            <button type="submit">Create</button></form>
            """ : ""
        return page(
            title: "Configs", section: .configs, viewer: viewer,
            body: """
                \(create)
                <div class="table-wrap"><table><caption class="sr">Configs</caption>
                <thead><tr><th scope="col">Name</th><th scope="col">Published version</th><th scope="col">Hash</th><th scope="col">Updated</th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                \(configs.isEmpty ? "<p class=\"muted\">No config is published yet.</p>" as HTML : "")
                """)
    }

    /// One config: its versions, the chosen version's files, an editor for the next version,
    /// a diff between two versions and the pipeline graph.
    struct ConfigView: Sendable {
        var name: String
        var versions: [ConfigVersionInfo]
        var current: Int64?
        /// The version shown (nil: the config has none yet).
        var shown: ConfigVersionInfo?
        var files: [(name: String, body: String)]
        /// `(from, to, diff JSON text)` when a diff was asked for.
        var diff: (Int64, Int64, String)?
        var problem: String?
        /// Agents per version and config state (the versions listed only).
        var counts: [Int64: [ConfigState: Int]] = [:]
    }

    static func configPage(_ c: ConfigView, viewer: Viewer) -> HTML {
        let base = "/configs/\(HTML.component(c.name))"
        let apiBase = "/api/v1/configs/\(HTML.component(c.name))"
        let versions = HTML.join(
            c.versions.map { v in
                let marks: HTML =
                    (v.current ? pill("published", "ok") : v.draft ? pill("draft", "muted") : "")
                    + (v.findings.contains(where: \.isError) ? pill("errors", "bad") : "")
                let current: HTML = v.version == c.shown?.version ? " aria-current=\"true\"" : ""
                let publish: HTML =
                    v.draft && viewer.canOperate
                    ? action(
                        "Publish", url: "\(apiBase)/versions/\(v.version)/publish", allowed: true,
                        confirm: "Publish version \(v.version) of \(c.name)?", then: "\(base)?version=\(v.version)")
                    : ""
                return """
                    <tr><th scope="row"><a href="\(base)?version=\(v.version)"\(current)>v\(v.version)</a></th><td>\(marks)</td>\
                    <td>\(configStatePills(c.counts[v.version] ?? [:]))</td><td>\(v.author ?? "—")</td><td>\(v.message ?? "")</td><td>\(time(v.createdAt))</td><td>\(publish)</td></tr>
                    """
            })
        let shownFiles = HTML.join(
            c.files.map { file in
                let lines = HTML.join(
                    file.body.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map {
                        "<li>\($0.element)</li>"
                    })
                return "<h3><code>\(file.name)</code></h3><ol class=\"code\">\(lines)</ol>"
            })
        let editing = c.files.first
        let fileName = editing?.name ?? "config.yaml"
        let problem: HTML = c.problem.map { "<p class=\"notice error\" role=\"alert\">\($0)</p>" } ?? ""
        let diffOptions = { (chosen: Int64?) -> HTML in
            HTML.join(
                c.versions.map { v in
                    "<option value=\"\(v.version)\"\(v.version == chosen ? " selected" : "")>v\(v.version)</option>"
                })
        }
        let diffHTML: HTML = c.diff.map { from, to, text in diffView(text, from: from, to: to) } ?? ""
        let graph: HTML =
            c.shown.map { v in
                """
                <img class="graph" src="\(apiBase)/versions/\(v.version)/graph.svg" alt="Pipeline graph of \(c.name) version \(v.version)">
                """
            } ?? "<p class=\"muted\">No version yet.</p>"
        let editor: HTML =
            viewer.canOperate
            ? """
            <section class="card" aria-labelledby="editor-title"><h2 id="editor-title">New version</h2>
            <form class="editor" data-editor data-config="\(c.name)" data-file="\(fileName)" data-base-version="\(c.versions.first?.version ?? 0)">
            <div class="field"><label for="file-name">File name</label><input id="file-name" name="file" value="\(fileName)" maxlength="255"></div>
            <label for="config-body">Config (YAML)</label>
            <div class="code-editor"><ol class="gutter" aria-hidden="true" data-gutter></ol>
            <textarea id="config-body" name="body" spellcheck="false" autocapitalize="off" autocomplete="off" wrap="off" \
            aria-describedby="lint-status">\(editing?.body ?? "")</textarea></div>
            <p id="lint-status" class="muted" aria-live="polite" data-lint-status>Findings appear here as you type (needs JavaScript).</p>
            <ul class="findings" data-findings></ul>
            <div class="field"><label for="message">Message</label><input id="message" name="message" maxlength="4096" placeholder="What changed and why"></div>
            <div class="actions"><button type="submit" name="draft" value="true" class="secondary">Save draft</button>
            <button type="submit" name="draft" value="false">Save and publish</button></div>
            <p class="muted" data-draft-note hidden>Restored your unsaved draft from this browser.</p>
            </form></section>
            """
            : "<p class=\"muted\">Your role may read configs; editing needs the operator role.</p>"
        // Two versions at least, or there is nothing to compare.
        let compare: HTML =
            c.versions.count < 2
            ? ""
            : """
            <form method="get" action="\(base)" class="inline" aria-label="Compare versions">
            <label for="diff-from">Compare</label><select id="diff-from" name="from">\(diffOptions(c.diff?.0 ?? c.versions.dropFirst().first?.version))</select>
            <label for="diff-to">with</label><select id="diff-to" name="to">\(diffOptions(c.diff?.1 ?? c.versions.first?.version))</select>
            <button type="submit" class="secondary">Diff</button></form>
            """
        var totals: [ConfigState: Int] = [:]
        for counts in c.counts.values { totals.merge(counts, uniquingKeysWith: +) }
        let agents: HTML =
            totals.isEmpty
            ? "<p class=\"muted\">No agent is targeted with a version of this config.</p>"
            : bar(configStateParts(totals), label: "Agents of \(c.name) by config state")
        let shownTitle: HTML =
            c.shown.map { v in "Version \(v.version)\(v.current ? " (published)" : v.draft ? " (draft)" : "")" }
            ?? "No version yet"
        return page(
            title: "Config \(c.name)", section: .configs, viewer: viewer,
            body: """
                \(problem)
                <div class="grid wide">
                <section class="card"><h2>Versions</h2>\(agents)<div class="table-wrap"><table><caption class="sr">Versions</caption>
                <thead><tr><th scope="col">Version</th><th scope="col">State</th><th scope="col">Agents</th><th scope="col">Author</th><th scope="col">Message</th><th scope="col">Created</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
                <tbody>\(versions)</tbody></table></div>
                \(compare)
                \(diffHTML)
                </section>
                <section class="card"><h2>Pipeline graph</h2>\(graph)</section>
                </div>
                \(editor)
                <section class="card"><h2>\(shownTitle)</h2>\(shownFiles)</section>
                """)
    }

    /// The fleet's diff (`{"changes": [{risk, kind, subject, detail}]}`, as `ampora-tool diff
    /// --json` writes it) as a list; other text is shown as it is.
    static func diffView(_ text: String, from: Int64, to: Int64) -> HTML {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        guard let changes = object?["changes"] as? [[String: Any]] else {
            return "<h3>Changes from v\(from) to v\(to)</h3><pre class=\"wrap\">\(text)</pre>"
        }
        let items = HTML.join(
            changes.map { change in
                let risk = change["risk"] as? String ?? ""
                let tone = risk == "high" ? "bad" : risk == "medium" ? "warn" : "muted"
                return """
                    <li>\(pill(risk.isEmpty ? "change" : risk + " risk", tone)) <span class="kind">\(change["kind"] as? String ?? "")</span> \
                    <code>\(change["subject"] as? String ?? "")</code> \(change["detail"] as? String ?? "")</li>
                    """
            })
        let body: HTML =
            changes.isEmpty
            ? "<p class=\"muted\">No change to components or pipelines.</p>" : "<ul class=\"diff\">\(items)</ul>"
        return "<h3>Changes from v\(from) to v\(to)</h3>\(body)"
    }
}

extension OperatorAPI {
    func addUIConfigRoutes(to router: Router<OperatorContext>) {
        router.get("/configs") { request, context in
            if let name = request.uri.queryParameters["create"].map(String.init), !name.isEmpty {
                return Self.redirect("/configs/\(HTML.component(name))")
            }
            return Self.html(UI.configsPage(fleet.listConfigs(), viewer: viewer(request, context)))
        }
        router.get("/configs/:name") { request, context in
            try await configPage(request, name: context.parameters.get("name") ?? "", viewer: viewer(request, context))
        }
    }

    private func configPage(_ request: Request, name: String, viewer: UI.Viewer) async throws -> Response {
        let fleet = fleet
        let parameters = request.uri.queryParameters
        let list = await Self.offExecutor {
            Result { () throws(FleetError) in try fleet.configVersionList(name: name, limit: 100) }
        }
        var view = UI.ConfigView(name: name, versions: [], current: nil, shown: nil, files: [], diff: nil)
        switch list {
        case .success(let list):
            view.versions = list.items
            view.current = list.current
            view.counts = fleet.configStateCounts(of: list.items)
        case .failure(let error) where error.kind == .notFound: break
        case .failure(let error): throw APIError(error)
        }
        let asked = parameters["version"].flatMap { Int64(String($0)) }
        if let chosen = asked ?? view.versions.first?.version {
            let detail = await Self.offExecutor {
                Result { () throws(FleetError) in try fleet.configVersion(name: name, version: chosen) }
            }
            switch detail {
            case .success(let detail):
                view.shown = detail.info
                view.files = detail.files.map { ($0.name, String(decoding: $0.file.body, as: UTF8.self)) }
            case .failure(let error): view.problem = error.message
            }
        }
        if let from = parameters["from"].flatMap({ Int64(String($0)) }),
            let to = parameters["to"].flatMap({ Int64(String($0)) })
        {
            let diff = await Self.offExecutor {
                Result { () throws(FleetError) in try fleet.configDiff(name: name, from: from, to: to) }
            }
            switch diff {
            case .success(let text): view.diff = (from, to, text)
            case .failure(let error): view.problem = error.message
            }
        }
        return Self.html(UI.configPage(view, viewer: viewer))
    }
}
