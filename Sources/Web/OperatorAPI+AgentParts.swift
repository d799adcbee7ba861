import Core
import Fleet
import Foundation
import Hummingbird

// What an agent reported in full (effective config, available components) and its custom
// messages, each a resource under `/api/v1/agents/{uid}`.
extension OperatorAPI {
    func addAgentPartRoutes(to router: Router<OperatorContext>) {
        router.get("/api/v1/agents/:uid/effective-config") { _, context in
            try await effectiveConfig(context.parameters.get("uid") ?? "")
        }
        router.get("/api/v1/agents/:uid/components") { _, context in
            try await components(context.parameters.get("uid") ?? "")
        }
        router.get("/api/v1/agents/:uid/custom-messages") { _, context in
            try receivedCustomMessages(context.parameters.get("uid") ?? "")
        }
        router.post("/api/v1/agents/:uid/custom-messages") { request, context in
            try await sendCustomMessage(request, uid: context.parameters.get("uid") ?? "")
        }
    }

    /// `GET …/effective-config`: the files the agent says it runs, each in canonical form with
    /// secret-looking values replaced by `<redacted>` (a file that is not YAML is withheld).
    private func effectiveConfig(_ text: String) async throws -> Response {
        let uid = try Self.uid(text)
        let fleet = fleet
        let read = await Self.offExecutor { Result { () throws(FleetError) in try fleet.effectiveConfig(of: uid) } }
        let config: AgentEffectiveConfig
        switch read {
        case .success(let found): config = found
        case .failure(let error): throw APIError(error)
        }
        let files = config.files.map { file -> [String: Any] in
            [
                "name": file.name, "contentType": file.contentType, "size": file.size,
                "body": file.redacted.map { $0 as Any } ?? NSNull(),
                "withheld": file.redacted == nil
                    ? "not YAML: its secrets could not be found, so it is not shown" : NSNull(),
            ]
        }
        var response = Self.json(["hash": config.hash, "redacted": true, "files": files] as [String: Any])
        response.headers[.eTag] = "\"\(config.hash)\""
        return response
    }

    /// `GET …/components`: the `AvailableComponents` the agent reported, as OpAMP's JSON.
    private func components(_ text: String) async throws -> Response {
        let uid = try Self.uid(text)
        let fleet = fleet
        let read = await Self.offExecutor {
            Result { () throws(FleetError) in try fleet.availableComponents(of: uid) }
        }
        switch read {
        case .success(let (hash, json)):
            var response = Self.json(["hash": hash], splicing: "components", raw: json)
            response.headers[.eTag] = "\"\(hash)\""
            return response
        case .failure(let error): throw APIError(error)
        }
    }

    /// `GET …/custom-messages`: the last custom messages the agent sent, newest first.
    private func receivedCustomMessages(_ text: String) throws -> Response {
        let uid = try Self.uid(text)
        guard let messages = fleet.receivedCustomMessages(of: uid) else {
            throw APIError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        let items = messages.map { m -> [String: Any] in
            [
                "at": Self.rfc3339(m.at), "capability": m.capability, "type": m.type,
                "data": Data(m.data).base64EncodedString(), "size": m.size, "truncated": m.data.count < m.size,
            ]
        }
        return Self.list(items)
    }

    /// `POST …/custom-messages` `{"capability", "type", "data"}` (data base64): 202 once handed
    /// to the agent's connection; 409 when the agent did not announce the capability.
    private func sendCustomMessage(_ request: Request, uid text: String) async throws -> Response {
        let body = try await Self.body(request, limit: 1 << 20, OperatorRequest.customMessage)
        return try sendCustomMessage(uid: text, capability: body.capability, type: body.type, data: body.data)
    }

    /// Sends a custom message (from the API's JSON or a page's form): 202, or why not.
    func sendCustomMessage(uid text: String, capability: String?, type: String?, data: [UInt8]) throws -> Response {
        let uid = try Self.uid(text)
        guard let capability, (1...256).contains(capability.utf8.count) else {
            throw APIError(.badRequest, "invalid_field", "capability must be a string of 1 to 256 bytes")
        }
        guard let type, type.utf8.count <= 256 else {
            throw APIError(.badRequest, "invalid_field", "type must be a string of at most 256 bytes")
        }
        var message = CustomMessage()
        message.capability = capability
        message.type = type
        message.data = data
        do {
            try fleet.sendCustomMessage(message, to: uid)
        } catch {
            throw APIError(error)
        }
        return Self.json(["sent": true, "capability": capability, "type": type, "size": data.count], status: .accepted)
    }

    static func uid(_ text: String) throws -> InstanceUID {
        guard let uid = InstanceUID(string: text) else {
            throw APIError(.badRequest, "invalid_uid", "\(text) is not a UUID")
        }
        return uid
    }
}
