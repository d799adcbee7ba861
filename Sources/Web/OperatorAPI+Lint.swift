import Fleet
import Foundation
import Hummingbird

// `POST /api/v1/lint`: the check publishing applies, on a body that is not stored, so that an
// editor can show findings at their lines while the operator types.
extension OperatorAPI {
    /// Registers the lint route.
    func addLintRoutes(to router: Router<OperatorContext>) {
        router.post("/api/v1/lint") { request, _ in try await lint(request) }
    }

    private func lint(_ request: Request) async throws -> Response {
        let body = try await Self.collect(request, limit: fleet.options.maxConfigBytes)
        let file = request.uri.queryParameters["file"].map(String.init) ?? "config.yaml"
        guard (1...255).contains(file.utf8.count), !file.contains("/") else {
            throw APIError(.badRequest, "invalid_parameter", "file must be a file name of 1 to 255 bytes")
        }
        let fleet = fleet
        let findings = await Self.offExecutor { fleet.lint(file: file, body: body) }
        let errors = findings.filter(\.isError).count
        return Self.json([
            "file": file, "errors": errors, "findings": findings.map(Self.findingJSON),
        ])
    }
}
