import Fleet
import Foundation
import Hummingbird

// `/api/v1/rollouts`: staged rollouts of published config versions, gated on agent health.
extension OperatorAPI {
    /// `POST /api/v1/rollouts`: creates a rollout and starts its first stage (201).
    func createRollout(_ request: Request) async throws -> Response {
        let object = try await Self.jsonObject(
            request, limit: 4 << 20, allowed: ["config", "version", "target", "stages", "soakSeconds", "gates"])
        guard let config = object["config"] as? String, !config.isEmpty else {
            throw APIError(.badRequest, "invalid_field", "config (a config name) is required")
        }
        guard let version = object["version"] as? Int, version >= 1 else {
            throw APIError(.badRequest, "invalid_field", "version (a published version number) is required")
        }
        let target = try Self.target(object["target"])
        let stages = try Self.stages(object["stages"])
        var soak: Int64 = 0
        if let raw = object["soakSeconds"] {
            guard let seconds = raw as? Int, seconds >= 0, seconds <= 7 * 86_400 else {
                throw APIError(.badRequest, "invalid_field", "soakSeconds must be a whole number from 0 to 604800")
            }
            soak = Int64(seconds)
        }
        let gates = try Self.gates(object["gates"])
        let fleet = fleet
        let soakSeconds = soak
        let made = await Self.offExecutor {
            Result { () throws(FleetError) in
                try fleet.createRollout(
                    config: config, version: Int64(version), target: target, stages: stages, soakSeconds: soakSeconds,
                    gates: gates)
            }
        }
        switch made {
        case .success(let rollout): return Self.rolloutResponse(rollout, status: .created)
        case .failure(let error): throw APIError(error)
        }
    }

    /// `GET /api/v1/rollouts`: every rollout, newest first.
    func listRollouts() -> Response {
        Self.list(fleet.listRollouts().map(Self.rolloutJSON))
    }

    /// `GET /api/v1/rollouts/{id}`: one rollout with its counts and `ETag`.
    func getRollout(_ id: String) throws -> Response {
        guard let rollout = fleet.rollout(id) else {
            throw APIError(.notFound, "rollout_not_found", "no rollout \(id)")
        }
        return Self.rolloutResponse(rollout)
    }

    /// `POST /api/v1/rollouts/{id}/pause|resume|abort|rollback`, with an optional `If-Match`
    /// (the rollout's `ETag`, quoted or not).
    func actOnRollout(id: String, action text: String, ifMatch header: String?) async throws -> Response {
        guard let action = FleetService.RolloutAction(rawValue: text) else {
            throw APIError(.notFound, "unknown_action", "rollouts can be paused, resumed, aborted or rolled back")
        }
        var ifMatch: Int64?
        if let header {
            let digits = header.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
            guard let value = Int64(digits) else {
                throw APIError(
                    .preconditionFailed, "precondition_failed", "If-Match \(header) is not an ETag of a rollout")
            }
            ifMatch = value
        }
        let fleet = fleet
        let expected = ifMatch
        let done = await Self.offExecutor {
            Result { () throws(FleetError) in try fleet.act(action, on: id, ifMatch: expected) }
        }
        switch done {
        case .success(let rollout): return Self.rolloutResponse(rollout, status: action == .rollback ? .created : .ok)
        case .failure(let error): throw APIError(error)
        }
    }

    private static func rolloutResponse(_ rollout: Rollout, status: HTTPResponse.Status = .ok) -> Response {
        var response = json(rolloutJSON(rollout), status: status)
        response.headers[.eTag] = "\"\(rollout.etag)\""
        if status == .created { response.headers[.location] = "/api/v1/rollouts/\(rollout.id)" }
        return response
    }

    static func rolloutJSON(_ r: Rollout) -> [String: Any] {
        func counts(_ c: StageCounts) -> [String: Any] {
            [
                "targets": c.targets, "pending": c[.pending], "applying": c[.applying], "applied": c[.applied],
                "failed": c[.failed], "stalled": c[.stalled], "incompatible": c[.incompatible],
                "rolledBack": c[.rolledBack], "drifted": c[.drifted], "unhealthy": c.unhealthy,
            ]
        }
        return [
            "id": r.id, "config": r.spec.config, "version": r.spec.version, "hash": r.spec.hash,
            "state": r.state.rawValue, "stage": r.stage + 1, "stages": r.stages,
            "reason": r.reason.map { $0 as Any } ?? NSNull(), "etag": r.etag,
            "rollbackOf": r.rollbackOf.map { $0 as Any } ?? NSNull(), "soakSeconds": r.spec.soakSeconds,
            "createdAt": rfc3339(r.createdAt), "updatedAt": rfc3339(r.updatedAt), "counts": counts(r.counts),
            "stageCounts": r.stageCounts.map(counts), "superseded": r.superseded,
            "stagePlan": r.spec.stages.map(stageJSON), "gates": gatesJSON(r.spec.gates),
        ]
    }

    /// A stage as the request spelled it.
    static func stageJSON(_ stage: RolloutStage) -> [String: Any] {
        switch stage {
        case .selector(let pairs): ["selector": pairs]
        case .percent(let percent): ["percent": percent]
        case .count(let count): ["count": count]
        }
    }

    /// The gates as the request spelled them.
    static func gatesJSON(_ gates: RolloutGates) -> [String: Any] {
        var out: [String: Any] = [:]
        for (name, limit) in gateList(gates) { out[name] = limit.count.map { $0 as Any } ?? gateText(limit) }
        return out
    }

    /// The gates that are set, by their request names.
    static func gateList(_ gates: RolloutGates) -> [(name: String, limit: GateLimit)] {
        [("maxFailed", gates.maxFailed), ("maxUnhealthy", gates.maxUnhealthy), ("maxStalled", gates.maxStalled)]
            .compactMap { name, limit in limit.map { (name, $0) } }
    }

    /// A limit as the request spells it: `3`, or `2.5%`.
    static func gateText(_ limit: GateLimit) -> String {
        if let count = limit.count { return String(count) }
        return percentText(limit.percent ?? 0)
    }

    /// `10%`, `2.5%`.
    static func percentText(_ percent: Double) -> String {
        (percent == percent.rounded() ? String(Int(percent)) : String(percent)) + "%"
    }

    private static func target(_ raw: Any?) throws -> RolloutTarget {
        guard let object = raw as? [String: Any], object.count == 1 else {
            throw APIError(
                .badRequest, "invalid_field",
                "target must be one of {\"selector\": {…}}, {\"group\": NAME}, {\"uids\": […]}")
        }
        if let selector = object["selector"] { return .selector(try strings(selector, "target.selector")) }
        if let group = object["group"] {
            guard let name = group as? String, !name.isEmpty else {
                throw APIError(.badRequest, "invalid_field", "target.group must be a group name")
            }
            return .group(name)
        }
        if let uids = object["uids"] {
            guard let list = uids as? [String], !list.isEmpty, list.count <= 1_000_000 else {
                throw APIError(.badRequest, "invalid_field", "target.uids must be a non-empty array of UUID strings")
            }
            return .uids(list)
        }
        throw APIError(.badRequest, "invalid_field", "target must have selector, group or uids")
    }

    private static func stages(_ raw: Any?) throws -> [RolloutStage] {
        guard let raw else { return [] }
        guard let list = raw as? [[String: Any]], list.count <= 100 else {
            throw APIError(.badRequest, "invalid_field", "stages must be an array of at most 100 objects")
        }
        var lastPercent = 0.0
        return try list.enumerated().map { index, stage in
            guard stage.count == 1 else {
                throw APIError(
                    .badRequest, "invalid_field", "stages[\(index)] must have one of selector, percent, count")
            }
            if let selector = stage["selector"] { return .selector(try strings(selector, "stages[\(index)].selector")) }
            if let percent = stage["percent"] as? Double, percent > 0, percent <= 100, percent >= lastPercent {
                lastPercent = percent
                return .percent(percent)
            }
            if let count = stage["count"] as? Int, count >= 1 { return .count(count) }
            throw APIError(
                .badRequest, "invalid_field",
                "stages[\(index)]: percent is from 0 (excluded) to 100 and grows stage by stage; count is at least 1")
        }
    }

    private static func gates(_ raw: Any?) throws -> RolloutGates {
        guard let raw else { return RolloutGates() }
        guard let object = raw as? [String: Any] else {
            throw APIError(.badRequest, "invalid_field", "gates must be an object")
        }
        var gates = RolloutGates()
        for (key, value) in object {
            guard let limit = GateLimit.parse(value) else {
                throw APIError(
                    .badRequest, "invalid_field", "gates.\(key) must be a count (5) or a percentage (\"2%\")")
            }
            switch key {
            case "maxFailed": gates.maxFailed = limit
            case "maxUnhealthy": gates.maxUnhealthy = limit
            case "maxStalled": gates.maxStalled = limit
            default: throw APIError(.badRequest, "invalid_field", "unknown gate \(key)")
            }
        }
        return gates
    }

    /// The request's body as a JSON object that has only `allowed` fields (400 otherwise).
    static func jsonObject(_ request: Request, limit: Int, allowed: Set<String>) async throws -> [String: Any] {
        let body = try await collect(request, limit: limit)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw APIError(.badRequest, "invalid_json", "the body must be a JSON object")
        }
        if let unknown = object.keys.first(where: { !allowed.contains($0) }) {
            throw APIError(.badRequest, "invalid_field", "unknown field \(unknown)")
        }
        return object
    }

    /// A JSON object of strings (a selector), or 400 naming the field.
    static func strings(_ raw: Any, _ name: String) throws -> [String: String] {
        guard let map = raw as? [String: Any] else {
            throw APIError(.badRequest, "invalid_field", "\(name) must be an object of names to strings")
        }
        var out: [String: String] = [:]
        for (key, value) in map {
            guard let text = value as? String else {
                throw APIError(.badRequest, "invalid_field", "\(name).\(key) must be a string")
            }
            out[key] = text
        }
        return out
    }
}
