import Fleet
import Foundation
import Hummingbird

/// What a server says about itself at `GET /api/v1/server`.
public struct ServerIdentity: Sendable {
    /// The build's version.
    public var version = "unknown"
    /// The instance id (`--instance-id`).
    public var instance = ""
    /// The agent I/O engine: `uring` or `epoll` (known once the gateway listens).
    public var engine: @Sendable () -> String = { "" }
    /// When it started, milliseconds since the Unix epoch.
    public var startedAt = Int64(Date().timeIntervalSince1970 * 1000)

    /// An identity to fill in.
    public init() {}
}

extension OperatorAPI {
    /// `GET /api/v1/server`: version, instance, engine, uptime, database and fleet at a glance.
    func serverInfo() -> Response {
        let m = fleet.metrics
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return Self.json([
            "version": identity.version, "instance": identity.instance, "engine": identity.engine(),
            "startedAt": Self.rfc3339(identity.startedAt), "uptimeSeconds": max(0, (now - identity.startedAt) / 1000),
            "ready": isReady(),
            "database": [
                "backend": fleet.backend, "healthy": m.storeHealthy,
                "backlogRows": m.backlogAgents + m.backlogTouches + m.backlogHistory,
            ] as [String: Any],
            "agents": ["known": m.agentsKnown, "connected": m.agentsConnected],
            "oidc": oidc != nil,
        ])
    }
}

extension OperatorAPI {
    /// `GET /api/v1/instances`: every server sharing the database, from its heartbeat row.
    func instances() async throws -> Response {
        let fleet = fleet
        let result = await Self.offExecutor { () -> Result<[InstanceInfo], StoreError> in
            do throws(StoreError) {
                return .success(try fleet.instances())
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let items):
            return Self.json([
                "items": items.map { i in
                    [
                        "id": i.id, "address": i.address, "startedAt": Self.rfc3339(i.startedAt),
                        "lastHeartbeat": Self.rfc3339(i.lastHeartbeat), "agents": i.agents, "leader": i.leader,
                        "alive": i.alive,
                    ] as [String: Any]
                }
            ])
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the database cannot be read: \(error.message)")
        }
    }
}
