import Fleet
import Foundation
import Hummingbird

// `/api/v1/rollouts`: staged rollouts of published config versions, gated on agent health.
extension OperatorAPI {
    /// `POST /api/v1/rollouts`: creates a rollout and starts its first stage (201).
    func createRollout(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: 4 << 20, OperatorRequest.rollout)
        let fleet = fleet
        let made = await Self.offExecutor {
            Result { () throws(FleetError) in
                try fleet.createRollout(
                    config: body.config, version: body.version, target: body.target, stages: body.stages,
                    soakSeconds: body.soakSeconds, gates: body.gates)
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

    /// The request's body read by one of Fleet's `OperatorRequest` readers (400 when it refuses).
    static func body<T>(_ request: Request, limit: Int, _ read: ([UInt8]) throws(BodyError) -> T) async throws -> T {
        let bytes = try await collect(request, limit: limit)
        do {
            return try read(bytes)
        } catch {
            throw APIError(.badRequest, error.code, error.message)
        }
    }
}
