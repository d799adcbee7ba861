import Fleet
import Foundation
import Hummingbird

extension UI {
    /// What the enrollment page's form was sent with, shown again when it was refused.
    struct EnrollmentForm: Sendable {
        var labels = ""
        var uses = ""
        var days = "30"
    }

    /// The enrollment tokens agents show to join (admins only): listed by id, made with labels,
    /// uses and an expiry, revoked. `created` is a token just made, shown this once.
    static func enrollmentPage(
        _ tokens: [EnrollmentTokenInfo], viewer: Viewer, form: EnrollmentForm = EnrollmentForm(),
        problem: String? = nil, created: (token: String, id: String)? = nil
    ) -> HTML {
        let rows = HTML.join(
            tokens.map { t in
                let labels = HTML.join(
                    t.labels.sorted { $0.key < $1.key }.map { "<span class=\"kv\">\($0.key)=\($0.value)</span>" },
                    separator: " ")
                let revoke = action(
                    "Revoke", method: "DELETE", url: "/api/v1/tokens/\(HTML.component(t.id))", allowed: viewer.isAdmin,
                    confirm: "Revoke enrollment token \(t.id)? Agents it enrolled stay enrolled.",
                    then: "/enrollment?done=revoke", tone: "danger",
                    form: ("/enrollment/\(HTML.component(t.id))/revoke", viewer))
                return """
                    <tr><th scope="row"><code>\(t.id)</code></th><td>\(t.labels.isEmpty ? "—" : labels)</td>\
                    <td>\(t.usesLeft.map { String($0) } ?? "any number")</td><td>\(time(t.createdAt))</td>\
                    <td>\(time(t.expiresAt))</td><td>\(revoke)</td></tr>
                    """
            })
        let fresh: HTML =
            created.map { token, id in
                """
                <div class="notice ok" role="status" data-new-token><p>Enrollment token <code>\(id)</code> made. \
                Copy it now: it is not shown again.</p><p><code class="secret" data-token-value>\(token)</code></p></div>
                """
            } ?? ""
        let refusal: HTML = problem.map { "<p class=\"notice error\" role=\"alert\" data-form-error>\($0)</p>" } ?? ""
        let invalid: HTML = problem == nil ? "" : " aria-invalid=\"true\""
        return page(
            title: "Enrollment tokens", section: .enrollment, viewer: viewer,
            body: """
                <p class="sub">Agents show an enrollment token to join when the server runs with \
                <code>--require-enrollment</code>; its labels become the labels of each agent it enrolls.</p>
                \(fresh)
                <div class="table-wrap"><table><caption class="sr">Enrollment tokens</caption>
                <thead><tr><th scope="col">Token id</th><th scope="col">Labels</th><th scope="col">Uses left</th>\
                <th scope="col">Created</th><th scope="col">Expires</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                \(tokens.isEmpty ? "<p class=\"muted\">No enrollment token yet.</p>" as HTML : "")
                <section class="card" aria-labelledby="new-enrollment"><h2 id="new-enrollment">New enrollment token</h2>
                <form method="post" action="/enrollment/create" class="stack">\(hidden(viewer))
                \(refusal)
                <div class="field"><label for="e-labels">Labels</label><input id="e-labels" name="labels" value="\(form.labels)" \
                placeholder="env=prod, region=eu" aria-describedby="e-labels-help"\(invalid)></div>
                <p id="e-labels-help" class="help">key=value pairs, comma separated; selectors name them as <code>label:KEY</code>.</p>
                <div class="field"><label for="e-uses">Uses</label><input id="e-uses" name="uses" type="number" min="1" \
                value="\(form.uses)" aria-describedby="e-uses-help"></div>
                <p id="e-uses-help" class="help">How many agents may enroll with it; empty: any number.</p>
                <div class="field"><label for="e-days">Expires after (days)</label><input id="e-days" name="days" type="number" \
                min="1" max="3650" value="\(form.days)" aria-describedby="e-days-help"></div>
                <p id="e-days-help" class="help">Empty: never.</p>
                <button type="submit">Create enrollment token</button>
                </form></section>
                """)
    }
}

extension OperatorAPI {
    func addUIEnrollmentRoutes(to router: Router<OperatorContext>) {
        router.get("/enrollment") { request, context in
            Self.html(UI.enrollmentPage(fleet.enrollmentTokens(), viewer: viewer(request, context)))
        }
        router.post("/enrollment/create") { request, context in try await createEnrollment(request, context) }
        router.post("/enrollment/:id/revoke") { request, context in
            try await formAction(request, context) { _ in
                _ = try await revokeEnrollmentToken(context.parameters.get("id") ?? "")
                return nil
            }
        }
    }

    /// `POST /enrollment/create`: a new enrollment token from the page's form, shown once on the
    /// page that answers (not a redirect: the token is in no URL and on no later page). A
    /// refused form comes back with what was typed and why.
    private func createEnrollment(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let fields = Self.form(try await Self.collect(request, limit: Self.maxFormBytes))
        let viewer = viewer(request, context)
        var form = UI.EnrollmentForm()
        form.labels = fields["labels"] ?? ""
        form.uses = (fields["uses"] ?? "").trimmingCharacters(in: .whitespaces)
        form.days = (fields["days"] ?? "").trimmingCharacters(in: .whitespaces)
        func refuse(_ why: String) -> Response {
            Self.html(
                UI.enrollmentPage(fleet.enrollmentTokens(), viewer: viewer, form: form, problem: why),
                status: .unprocessableContent)
        }
        guard let labels = UI.pairs(form.labels) else {
            return refuse("Labels must be written as key=value, key=value.")
        }
        let uses = Int64(form.uses)
        guard form.uses.isEmpty || (uses ?? 0) >= 1 else {
            return refuse("Uses must be a whole number of at least 1, or empty for any number.")
        }
        let days = Int64(form.days)
        guard form.days.isEmpty || (1...3650).contains(days ?? 0) else {
            return refuse("Expires after must be a whole number of days from 1 to 3650, or empty for never.")
        }
        do {
            let made = try await createEnrollmentToken(
                uses: uses, expiresInSeconds: days.map { $0 * 86_400 }, labels: labels)
            return Self.html(UI.enrollmentPage(fleet.enrollmentTokens(), viewer: viewer, created: made))
        } catch let error as APIError {
            return refuse(error.message)
        }
    }
}
