import Core
import Fleet
import Foundation
import Hummingbird

// `/api/v1/groups` (saved selectors) and commands to agents.
extension OperatorAPI {
    /// `PUT /api/v1/groups/{name}` `{"selector": {…}, "description": "…"}`: creates or replaces it.
    func putGroup(_ request: Request, name: String) async throws -> Response {
        let body = try await Self.body(request, limit: 1 << 20, OperatorRequest.group)
        let fleet = fleet
        let ifMatch = request.headers[.ifMatch]
        let stored = await Self.offExecutor {
            Result { () throws(FleetError) in
                try fleet.putGroup(name: name, selector: body.selector, description: body.description, ifMatch: ifMatch)
            }
        }
        switch stored {
        case .success(let group): return Self.groupResponse(group)
        case .failure(let error): throw APIError(error)
        }
    }

    /// `GET /api/v1/groups`: every group with its members counted.
    func listGroups() async -> Response {
        let fleet = fleet
        let groups = await Self.offExecutor { fleet.listGroups() }
        return Self.list(groups.map(Self.groupJSON))
    }

    /// `GET /api/v1/groups/{name}`.
    func getGroup(_ name: String) async throws -> Response {
        let fleet = fleet
        guard let group = await Self.offExecutor({ fleet.group(name) }) else {
            throw APIError(.notFound, "group_not_found", "no group named \(name)")
        }
        return Self.groupResponse(group)
    }

    private static func groupResponse(_ group: AgentGroup) -> Response {
        var response = json(groupJSON(group))
        response.headers[.eTag] = group.etag
        return response
    }

    /// `DELETE /api/v1/groups/{name}`: 204, 404, or 412 when `If-Match` names another version.
    func deleteGroup(_ name: String, ifMatch: String?) async throws -> Response {
        let fleet = fleet
        let done = await Self.offExecutor {
            Result { () throws(FleetError) in try fleet.deleteGroup(name, ifMatch: ifMatch) }
        }
        switch done {
        case .success(true): return Response(status: .noContent)
        case .success(false): throw APIError(.notFound, "group_not_found", "no group named \(name)")
        case .failure(let error): throw APIError(error)
        }
    }

    /// `POST /api/v1/agents/{uid}/restart|report-full-state|reconcile|disconnect`: 202, or 409
    /// when the agent cannot take it now.
    func command(_ kind: AgentCommandKind, uid text: String) throws -> Response {
        guard let uid = InstanceUID(string: text) else {
            throw APIError(.badRequest, "invalid_uid", "\(text) is not a UUID")
        }
        do {
            try fleet.command(kind, to: uid)
        } catch {
            throw APIError(error)
        }
        return Self.json(["sent": true, "command": kind.rawValue], status: .accepted)
    }

    /// `POST /api/v1/agents/commands` `{"command": "restart|reportFullState|reconcile|disconnect",
    /// "selector": {…}}`: 202 with how many got it and who did not, with why.
    func commandMany(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: 1 << 20, OperatorRequest.command)
        let fleet = fleet
        let outcome = await Self.offExecutor { fleet.command(body.kind, selector: body.selector) }
        return Self.json(
            [
                "command": body.kind.rawValue, "sent": outcome.sent, "skippedTotal": outcome.skippedTotal,
                "skipped": outcome.skipped.map { ["uid": $0.uid, "reason": $0.reason] },
            ], status: .accepted)
    }

    static func groupJSON(_ g: AgentGroup) -> [String: Any] {
        return [
            "name": g.name, "selector": g.selector, "description": g.description, "createdAt": rfc3339(g.createdAt),
            "updatedAt": rfc3339(g.updatedAt), "etag": g.etag,
            "members": [
                "total": g.members.total, "connected": g.members.connected, "healthy": g.members.healthy,
                "unhealthy": g.members.unhealthy, "configStates": stateCounts(g.members.configStates, zeros: false),
            ] as [String: Any],
        ]
    }
}
