import Fleet
import Foundation

/// The web UI's pages as HTML: pure functions of what the fleet said, so that rendering and
/// escaping are tested without a server (docs/ARCHITECTURE.md, "Web UI").
enum UI {
    /// The sections of the navigation, in their order.
    enum Section: String, CaseIterable, Sendable {
        case overview, agents, configs, rollouts, groups, audit, tokens, enrollment

        var path: String { self == .overview ? "/" : "/" + rawValue }
        var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
        /// The weakest role that sees the section.
        var role: OperatorRole { self == .tokens || self == .enrollment ? .admin : .viewer }
    }

    /// Who is looking, and what the page may offer them.
    struct Viewer: Sendable {
        var name: String
        var role: OperatorRole
        /// The session's CSRF token, which forms post back ("" for a bearer token).
        var csrf = ""
        /// What a form of the page just did, to say so at the top.
        var done: String?

        var canOperate: Bool { role.allows(.operator) }
        var isAdmin: Bool { role.allows(.admin) }
    }

    /// A whole page: header with navigation, the main content, the scripts.
    /// `live` is the event stream the page refreshes itself from (its `data-live` parts).
    static func page(title: String, section: Section?, viewer: Viewer?, live: String? = nil, body: HTML) -> HTML {
        let nav: HTML =
            if let viewer {
                HTML.join(
                    Section.allCases.filter { viewer.role.allows($0.role) }.map { s in
                        let current: HTML = s == section ? " aria-current=\"page\"" : ""
                        return "<li><a href=\"\(s.path)\"\(current)>\(s.title)</a></li>"
                    })
            } else { "" }
        let user: HTML =
            if let viewer {
                """
                <div class="user"><span class="who">\(viewer.name) <span class="badge">\(viewer.role.rawValue)</span></span>\
                <form method="post" action="/auth/logout" class="logout" data-logout>\(hidden(viewer))\
                <button type="submit" class="link">Sign out</button></form></div>
                """
            } else { "" }
        let liveAttribute: HTML = live.map { " data-events=\"\($0)\"" } ?? ""
        let role: HTML = viewer.map { " data-role=\"\($0.role.rawValue)\"" } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="color-scheme" content="light dark">
            <title>\(title) · Ampora</title>
            <link rel="stylesheet" href="/ui/app.css">
            <script src="/ui/app.js" defer></script>
            </head><body\(role)\(liveAttribute)>
            <a class="skip" href="#main">Skip to content</a>
            <header class="top"><a class="brand" href="/">Ampora</a>
            <nav aria-label="Main"><ul>\(nav)</ul></nav>\(user)</header>
            <main id="main" tabindex="-1">
            <h1>\(title)</h1>
            \(viewer == nil ? "" : "<noscript><p class=\"notice info\">Pages read without JavaScript, and their buttons and the enrollment and custom message forms work without it; the editor, the rollout wizard, bulk restarts and the forms that make groups and access tokens need it.</p></noscript>" as HTML)
            \(viewer?.done.map { "<p class=\"notice ok\" role=\"status\" data-done>\($0)</p>" as HTML } ?? "")
            \(body)
            </main>
            <div id="toast" role="status" aria-live="polite"></div>
            </body></html>

            """
    }

    /// A page that says why it cannot be shown, or why a form's change was not made (with the
    /// way `back` to the form's page).
    static func errorPage(status: Int, message: String, viewer: Viewer?, back: String? = nil) -> HTML {
        let title = status == 403 ? "Not allowed" : status == 404 ? "Not found" : "Something went wrong"
        let link: HTML =
            back.map { "<a href=\"\($0)\">Back to the page</a>" } ?? "<a href=\"/\">Back to the overview</a>"
        return page(
            title: title, section: nil, viewer: viewer,
            body: "<p class=\"notice error\" role=\"alert\">\(message)</p><p>\(link)</p>")
    }

    /// What the page says after a form's change (`done=KEY` in its URL): only these words, so
    /// that a link cannot make a page say something else.
    static let doneNotices: [String: String] = [
        "restart": "Restart: sent.", "reconcile": "Reconcile: sent.", "disconnect": "Disconnect: done.",
        "revoke": "Revoke: done.", "pause": "Pause: done.", "resume": "Resume: done.", "abort": "Abort: done.",
        "rollback": "Roll back: started.", "delete": "Delete: done.", "custom-messages": "Custom message: sent.",
    ]

    /// The sign-in page: a personal access token, or the OpenID Connect provider when there is one.
    static func loginPage(next: String, error: String?, oidc: Bool) -> HTML {
        let problem: HTML = error.map { "<p class=\"notice error\" role=\"alert\">\($0)</p>" } ?? ""
        let provider: HTML =
            oidc
            ? """
            <p class="or">or</p>
            <a class="button secondary" href="/auth/login\(HTML.query([("next", next)]))">Sign in with your identity provider</a>
            """ : ""
        return page(
            title: "Sign in", section: nil, viewer: nil,
            body: """
                <div class="card narrow">\(problem)
                <form method="post" action="/login" class="stack">
                <input type="hidden" name="next" value="\(next)">
                <label for="token">Personal access token</label>
                <input id="token" name="token" type="password" autocomplete="current-password" required \
                aria-describedby="token-help" autofocus>
                <p id="token-help" class="help">Create one with <code>ampora token create --role viewer</code>.</p>
                <button type="submit">Sign in</button>
                </form>\(provider)</div>
                """)
    }

    // MARK: Small parts

    /// `2026-12-05 14:38:00 UTC` in a `<time>` element.
    static func time(_ milliseconds: Int64?) -> HTML {
        guard let milliseconds, milliseconds > 0 else { return "<span class=\"muted\">never</span>" }
        let stamp = OperatorAPI.rfc3339(milliseconds)
        let shown = stamp.prefix(19).replacingOccurrences(of: "T", with: " ") + " UTC"
        return "<time datetime=\"\(stamp)\">\(shown)</time>"
    }

    /// A coloured word for a state (the colour is never the only signal: the word is there).
    static func pill(_ text: String, _ tone: String) -> HTML {
        "<span class=\"pill \(tone)\">\(text)</span>"
    }

    static func connection(_ connected: Bool) -> HTML {
        connected ? pill("connected", "ok") : pill("disconnected", "muted")
    }

    static func health(_ healthy: Bool?) -> HTML {
        switch healthy {
        case true: pill("healthy", "ok")
        case false: pill("unhealthy", "bad")
        default: pill("unknown", "muted")
        }
    }

    static func tone(_ state: ConfigState) -> String {
        switch state {
        case .applied: "ok"
        case .applying, .pending: "info"
        case .failed, .incompatible, .rolledBack: "bad"
        case .stalled, .drifted: "warn"
        }
    }

    static func configState(_ state: ConfigState?) -> HTML {
        guard let state else { return "<span class=\"muted\">none</span>" }
        return pill(stateName(state), tone(state))
    }

    /// Config states in the order the overview, configs and groups show them.
    static let configStateOrder: [ConfigState] = [
        .applied, .applying, .pending, .failed, .stalled, .incompatible, .drifted, .rolledBack,
    ]

    /// A config state as words ("rolled back").
    static func stateName(_ state: ConfigState) -> String {
        state.rawValue.lowercased().replacingOccurrences(of: "_", with: " ")
    }

    /// `counts` as the parts of a `bar`, every state in order (zeros too, for the legend).
    static func configStateParts(_ counts: [ConfigState: Int]) -> [(String, Int, String)] {
        configStateOrder.map { (stateName($0), counts[$0] ?? 0, tone($0)) }
    }

    /// The nonzero counts as pills ("12 applied"), or a dash.
    static func configStatePills(_ counts: [ConfigState: Int]) -> HTML {
        let shown = configStateOrder.filter { (counts[$0] ?? 0) > 0 }
        guard !shown.isEmpty else { return "—" }
        return HTML.join(shown.map { pill("\(counts[$0] ?? 0) \(stateName($0))", tone($0)) }, separator: " ")
    }

    /// A stacked bar of `parts` (label, count, tone) as SVG: widths are attributes, so the
    /// page's Content-Security-Policy needs no inline styles.
    static func bar(_ parts: [(String, Int, String)], label: String) -> HTML {
        let total = parts.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return "<p class=\"muted\">Nothing to show yet.</p>" }
        var x = 0.0
        var rects: [HTML] = []
        for (name, count, tone) in parts where count > 0 {
            let width = Double(count) * 100 / Double(total)
            rects.append(
                "<rect class=\"\(tone)\" x=\"\(String(format: "%.3f", x))%\" y=\"0\" width=\"\(String(format: "%.3f", width))%\" height=\"100%\"><title>\(name): \(count)</title></rect>"
            )
            x += width
        }
        let legend = HTML.join(
            parts.map { name, count, tone in
                "<li><span class=\"swatch \(tone)\" aria-hidden=\"true\"></span>\(name) <strong>\(count)</strong></li>"
            })
        return """
            <svg class="bar" role="img" aria-label="\(label)" width="100%" height="16" preserveAspectRatio="none">\(rects)</svg>
            <ul class="legend">\(legend)</ul>
            """
    }

    /// A progress element with its numbers in words.
    static func progress(_ done: Int, of total: Int, label: String) -> HTML {
        "<progress max=\"\(max(total, 1))\" value=\"\(done)\" aria-label=\"\(label)\">\(done)/\(total)</progress> <span class=\"muted\">\(done) of \(total)</span>"
    }

    /// Names of the OpAMP `AgentCapabilities` bits set in `bits`.
    static func capabilityNames(_ bits: UInt64) -> [String] {
        let names = [
            "ReportsStatus", "AcceptsRemoteConfig", "ReportsEffectiveConfig", "AcceptsPackages",
            "ReportsPackageStatuses", "ReportsOwnTraces", "ReportsOwnMetrics", "ReportsOwnLogs",
            "AcceptsOpAMPConnectionSettings", "AcceptsOtherConnectionSettings", "AcceptsRestartCommand",
            "ReportsHealth", "ReportsRemoteConfig", "ReportsHeartbeat", "ReportsAvailableComponents",
            "ReportsConnectionSettingsStatus",
        ]
        var out: [String] = []
        for (i, name) in names.enumerated() where bits & (1 << UInt64(i)) != 0 { out.append(name) }
        let unknown = bits >> UInt64(names.count)
        if unknown != 0 { out.append("unknown bits 0x" + String(unknown << UInt64(names.count), radix: 16)) }
        return out
    }

    /// An action button the page's script sends to the API; shown disabled, with why, to a
    /// role that may not use it (the API refuses it anyway). With `form` (a UI form route and the
    /// viewer whose CSRF token it carries), the button also works without the script, as a form
    /// posted there; `fields` go with it.
    static func action(
        _ label: String, method: String = "POST", url: String, allowed: Bool, confirm: String? = nil,
        body: String? = nil, then: String? = nil, tone: String = "secondary",
        form: (path: String, viewer: Viewer)? = nil, fields: [(String, String)] = []
    ) -> HTML {
        let confirmation: HTML = confirm.map { " data-confirm=\"\($0)\"" } ?? ""
        let payload: HTML = body.map { " data-body=\"\($0)\"" } ?? ""
        let next: HTML = then.map { " data-then=\"\($0)\"" } ?? ""
        let disabled: HTML = allowed ? "" : " disabled title=\"Your role may not do this\""
        let type: HTML = form == nil ? "button" : "submit"
        let button: HTML =
            "<button type=\"\(type)\" class=\"\(tone)\" data-action=\"\(url)\" data-method=\"\(method)\"\(confirmation)\(payload)\(next)\(disabled)>\(label)</button>"
        guard let form else { return button }
        return
            "<form method=\"post\" action=\"\(form.path)\" class=\"inline\">\(hidden(form.viewer, fields))\(button)</form>"
    }

    /// The hidden fields of a page's form: the session's CSRF token, then `fields`.
    static func hidden(_ viewer: Viewer, _ fields: [(String, String)] = []) -> HTML {
        HTML.join(
            ([("csrf", viewer.csrf)] + fields).map { "<input type=\"hidden\" name=\"\($0.0)\" value=\"\($0.1)\">" })
    }
}
