import Fleet
import Foundation
import Hummingbird

extension OperatorAPI {
    /// Registers the config version routes.
    func addConfigVersionRoutes(to router: Router<OperatorContext>) {
        let base = "/api/v1/configs/:name/versions"
        router.get(RouterPath(base)) { request, context in
            try await listConfigVersions(request, name: context.parameters.get("name") ?? "")
        }
        router.post(RouterPath(base)) { request, context in
            try await createConfigVersion(request, name: context.parameters.get("name") ?? "", author: context.actor)
        }
        router.get(RouterPath(base + "/:version")) { _, context in
            let (name, version) = try Self.nameAndVersion(context)
            let fleet = fleet
            let detail = try await Self.fleetCall { () throws(FleetError) in
                try fleet.configVersion(name: name, version: version)
            }
            var body = Self.versionJSON(detail.info)
            var files: [String: Any] = [:]
            for (file, content) in detail.files {
                files[file] = [
                    "body": String(decoding: content.body, as: UTF8.self), "contentType": content.contentType,
                ]
            }
            body["files"] = files
            var response = Self.json(body)
            response.headers[.eTag] = detail.info.etag
            return response
        }
        router.post(RouterPath(base + "/:version/publish")) { request, context in
            let (name, version) = try Self.nameAndVersion(context)
            let ifMatch = request.headers[.ifMatch]
            let fleet = fleet
            let saved = try await Self.fleetCall { () throws(FleetError) in
                try fleet.publishConfigVersion(name: name, version: version, ifMatch: ifMatch)
            }
            var response = Self.json(Self.savedJSON(saved.info))
            response.headers[.eTag] = saved.etag
            return response
        }
        router.get(RouterPath(base + "/:version/diff/:other")) { _, context in
            let (name, old) = try Self.nameAndVersion(context)
            let new = try Self.version(context.parameters.get("other") ?? "")
            let fleet = fleet
            let diff = try await Self.fleetCall { () throws(FleetError) in
                try fleet.configDiff(name: name, from: old, to: new)
            }
            return Self.text(diff, contentType: "application/json")
        }
        for (suffix, format, type) in [
            ("svg", ConfigGraphFormat.svg, "image/svg+xml"), ("json", ConfigGraphFormat.json, "application/json"),
        ] {
            router.get(RouterPath(base + "/:version/graph." + suffix)) { _, context in
                let (name, version) = try Self.nameAndVersion(context)
                let fleet = fleet
                let graph = try await Self.fleetCall { () throws(FleetError) in
                    try fleet.configGraph(name: name, version: version, format: format)
                }
                return Self.text(graph, contentType: type)
            }
        }
    }

    // MARK: Handlers

    private func listConfigVersions(_ request: Request, name: String) async throws -> Response {
        var limit = 100
        var before: Int64?
        for (key, value) in request.uri.queryParameters {
            switch String(key) {
            case "limit":
                guard let n = Int(String(value)), n >= 1, n <= 1000 else {
                    throw APIError(.badRequest, "invalid_parameter", "limit must be an integer from 1 to 1000")
                }
                limit = n
            case "before": before = try Self.version(String(value))
            default: throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(key)")
            }
        }
        let fleet = fleet
        let (chosenLimit, chosenBefore) = (limit, before)
        let list = try await Self.fleetCall { () throws(FleetError) in
            try fleet.configVersionList(name: name, limit: chosenLimit, before: chosenBefore)
        }
        let counts = fleet.configStateCounts(of: list.items)
        let items = list.items.map { info -> [String: Any] in
            var item = Self.versionJSON(info)
            item["findings"] = nil
            item["findingsCount"] = info.findings.count
            item["configStates"] = Self.stateCounts(counts[info.version] ?? [:], zeros: false)
            return item
        }
        var response = Self.json([
            "name": name, "current": list.current.map { $0 as Any } ?? NSNull(), "items": items,
        ])
        response.headers[.eTag] = list.etag
        return response
    }

    private func createConfigVersion(_ request: Request, name: String, author: String) async throws -> Response {
        // JSON escaping can double YAML text (quotes, backslashes, newlines); the files' own
        // total is held to `maxConfigBytes` by the fleet.
        let body = try await Self.body(
            request, limit: 2 * fleet.options.maxConfigBytes + (1 << 20), OperatorRequest.configVersion)
        let ifMatch = request.headers[.ifMatch]
        let fleet = fleet
        let asked = NewConfigVersion(
            files: body.files, message: body.message, draft: body.draft, author: author, ifMatch: ifMatch)
        let saved = try await Self.fleetCall { () throws(FleetError) in
            try fleet.saveConfigVersion(name: name, asked)
        }
        var response = Self.json(Self.savedJSON(saved.info), status: saved.created ? .created : .ok)
        response.headers[.eTag] = saved.etag
        if saved.created { response.headers[.location] = "/api/v1/configs/\(name)/versions/\(saved.info.version)" }
        return response
    }

    // MARK: Helpers

    /// Runs a fleet call that waits on the database (or the Toolkit) off the async executor.
    static func fleetCall<T: Sendable>(_ work: @escaping @Sendable () throws(FleetError) -> T) async throws -> T {
        let result = await offExecutor { Result { () throws(FleetError) in try work() } }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw APIError(error)
        }
    }

    private static func nameAndVersion(_ context: OperatorContext) throws -> (String, Int64) {
        (context.parameters.get("name") ?? "", try version(context.parameters.get("version") ?? ""))
    }

    private static func version(_ text: String) throws -> Int64 {
        guard let version = Int64(text), version >= 1 else {
            throw APIError(.badRequest, "invalid_version", "\(text) is not a version number (1, 2, …)")
        }
        return version
    }

    /// One finding, with the members of `ampora-tool lint --format json`.
    static func findingJSON(_ f: ConfigFinding) -> [String: Any] {
        [
            "rule": f.rule, "severity": f.severity, "message": f.message, "file": f.file, "line": f.line,
            "column": f.column, "path": f.path,
        ]
    }

    private static func savedJSON(_ info: ConfigVersionInfo) -> [String: Any] {
        [
            "name": info.name, "version": info.version, "hash": info.hash, "draft": info.draft,
            "findings": info.findings.map(findingJSON),
        ]
    }

    private static func versionJSON(_ info: ConfigVersionInfo) -> [String: Any] {
        [
            "name": info.name, "version": info.version, "hash": info.hash,
            "author": info.author.map { $0 as Any } ?? NSNull(),
            "message": info.message.map { $0 as Any } ?? NSNull(), "createdAt": rfc3339(info.createdAt),
            "draft": info.draft, "current": info.current, "findings": info.findings.map(findingJSON),
        ]
    }
}
