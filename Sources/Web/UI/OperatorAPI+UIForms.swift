import Core
import Fleet
import Foundation
import Hummingbird

// The pages' forms, which work without the script: each makes its change through the REST
// handler of the same change (its checks and errors), then sends the browser back to the page
// (303). The `Access` middleware has checked the role and the form's CSRF field and audits
// the change under the REST route's action.
extension OperatorAPI {
    func addUIFormRoutes(to router: Router<OperatorContext>) {
        for (path, kind) in [
            ("restart", AgentCommandKind.restart), ("reconcile", .reconcile), ("disconnect", .disconnect),
        ] {
            router.post("/agents/:uid/\(path)") { request, context in
                try await formAction(request, context) { _ in
                    _ = try command(kind, uid: context.parameters.get("uid") ?? "")
                    return nil
                }
            }
        }
        router.post("/agents/:uid/revoke") { request, context in
            try await formAction(request, context) { _ in
                _ = try await revoke(context.parameters.get("uid") ?? "")
                return nil
            }
        }
        router.post("/agents/:uid/readmit") { request, context in
            try await formAction(request, context) { _ in
                _ = try await readmit(context.parameters.get("uid") ?? "")
                return nil
            }
        }
        router.post("/agents/:uid/custom-messages") { request, context in
            try await formAction(request, context) { form in
                // The page's form sends text: its UTF-8 is the data.
                _ = try sendCustomMessage(
                    uid: context.parameters.get("uid") ?? "", capability: form["capability"], type: form["type"],
                    data: Array((form["data"] ?? "").utf8))
                return nil
            }
        }
        router.post("/groups/:name/delete") { request, context in
            try await formAction(request, context) { _ in
                _ = try await deleteGroup(context.parameters.get("name") ?? "", ifMatch: nil)
                return nil
            }
        }
        router.post("/tokens/:id/revoke") { request, context in
            try await formAction(request, context) { _ in
                _ = try await revokeAccessToken(context.parameters.get("id") ?? "")
                return nil
            }
        }
        router.post("/rollouts/:id/:action") { request, context in
            try await formAction(request, context) { form in
                let answer = try await actOnRollout(
                    id: context.parameters.get("id") ?? "", action: context.parameters.get("action") ?? "",
                    ifMatch: form["etag"])
                // A rollback is a new rollout: its page is where to go.
                guard answer.status == .created, let location = answer.headers[.location] else { return nil }
                return String(location.dropFirst("/api/v1".count))
            }
        }
    }

    /// The page a form route belongs to: the nearest page above its path (`/agents/X/restart` is
    /// a form of `/agents/X`, `/enrollment/X/revoke` of `/enrollment`).
    static func formPage(_ path: String) -> String {
        var segments = path.split(separator: "/")
        while !segments.isEmpty {
            segments.removeLast()
            let page = segments
            let isPage = uiRoutes.contains { route in
                let pattern = route.path.split(separator: "/")
                return route.method == "GET" && pattern.count == page.count
                    && zip(pattern, page).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
            }
            if isPage { return "/" + segments.joined(separator: "/") }
        }
        return "/"
    }

    /// Runs a form's change; then to the page `perform` names, or back to the form's page, with
    /// `done=` saying what was done. A refusal is a page that says why, with the way back.
    func formAction(
        _ request: Request, _ context: OperatorContext,
        perform: ([String: String]) async throws -> String?
    ) async throws -> Response {
        let back = Self.formPage(request.uri.path)
        let form = Self.form(try await Self.collect(request, limit: Self.maxFormBytes))
        let next: String?
        do {
            next = try await perform(form)
        } catch let error as APIError {
            return Self.html(
                UI.errorPage(
                    status: Int(error.status.code), message: error.message, viewer: viewer(request, context),
                    back: back),
                status: error.status)
        }
        let done = request.uri.path.split(separator: "/").last.map(String.init)
        return Self.redirect((next ?? back) + HTML.query([("done", done)]))
    }
}
