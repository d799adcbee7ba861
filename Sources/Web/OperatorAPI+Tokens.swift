import Core
import Fleet
import Foundation
import Hummingbird

extension OperatorAPI {
    /// `POST /api/v1/tokens`: a new enrollment token, in the answer only (only its hash is kept).
    /// Body: `{"uses": N, "expiresInSeconds": N, "labels": {"k": "v"}}`, every field optional.
    func createToken(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: 64 << 10, OperatorRequest.enrollmentToken)
        let (uses, expires, labels) = (body.uses, body.expiresInSeconds, body.labels)
        let (token, id) = try await createEnrollmentToken(uses: uses, expiresInSeconds: expires, labels: labels)
        var answer: [String: Any] = ["token": token, "id": id, "labels": labels]
        if let uses { answer["uses"] = uses }
        if let expires { answer["expiresInSeconds"] = expires }
        var response = Self.json(answer, status: .created)
        response.headers[.location] = "/api/v1/tokens/\(id)"
        return response
    }

    /// A new enrollment token (from the API or a page's form) and its id.
    func createEnrollmentToken(uses: Int64?, expiresInSeconds expires: Int64?, labels: [String: String]) async throws
        -> (token: String, id: String)
    {
        // In milliseconds it is added to the clock: an unbounded number overflowed and crashed
        // the server. Ten years, as for access tokens.
        guard (expires ?? 1) <= 10 * 365 * 86_400 else {
            throw APIError(.badRequest, "invalid_field", "expiresInSeconds must be a whole number from 1 to 315360000")
        }
        let fleet = fleet
        let chosen = labels
        let made = await Self.offExecutor {
            Result { () throws(StoreError) in
                try fleet.createEnrollmentToken(
                    uses: uses, expiresAfterMilliseconds: expires.map { $0 * 1000 }, labels: chosen)
            }
        }
        switch made {
        case .success(let token): return (token, EnrollmentTokenInfo.id(token: token))
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the token was not stored: \(error)")
        }
    }

    /// `DELETE /api/v1/agents/{uid}/identity`: forgets which certificate (or token) owns the
    /// uid, so an agent whose certificate was replaced can speak for it again. 204, or 404.
    func unbindIdentity(_ text: String) async throws -> Response {
        try await changeAgent(
            text, { (fleet, uid) throws(StoreError) in try fleet.unbindIdentity(uid) },
            notFound: ("not_bound", "\(text) is not bound to an identity"),
            failed: "the binding was not removed")
    }

    /// `POST /api/v1/agents/{uid}/revoke`: the agent is refused until readmitted, whatever it
    /// presents, its certificates (issued by the Ampora CA, or the one it is bound to) are refused
    /// for ever, and its connection is closed. 204, or 404 for an agent this fleet has never seen
    /// or one revoked already.
    func revoke(_ text: String) async throws -> Response {
        try await changeAgent(
            text, { (fleet, uid) throws(StoreError) in try fleet.revoke(uid) },
            notFound: ("no_certificate", "\(text) is not an agent of this fleet, or is revoked already"),
            failed: "nothing was revoked")
    }

    /// `DELETE /api/v1/agents/{uid}/revocation`: a revoked agent is accepted again (its revoked
    /// certificates stay refused; a binding to one of them is removed). 204, or 404 when it was
    /// not revoked.
    func readmit(_ text: String) async throws -> Response {
        try await changeAgent(
            text, { (fleet, uid) throws(StoreError) in try fleet.readmit(uid) },
            notFound: ("not_revoked", "\(text) is not revoked"),
            failed: "the agent was not readmitted")
    }

    /// Runs `change` (a database write, off the async executor) on the agent `text` names: 204
    /// when it changed something, 404 with `notFound` when not, 400 for a uid that is not one,
    /// 503 when the database refused.
    private func changeAgent(
        _ text: String, _ change: @escaping @Sendable (FleetService, InstanceUID) throws(StoreError) -> Bool,
        notFound: (code: String, message: String), failed: String
    ) async throws -> Response {
        guard let uid = InstanceUID(string: text) else {
            throw APIError(.badRequest, "invalid_uid", "\(text) is not a UUID")
        }
        let fleet = fleet
        let done = await Self.offExecutor { Result { () throws(StoreError) in try change(fleet, uid) } }
        switch done {
        case .success(true): return Response(status: .noContent)
        case .success(false): throw APIError(.notFound, notFound.code, notFound.message)
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "\(failed): \(error)")
        }
    }

    /// `GET /api/v1/ca/crl.pem`: the Ampora CA's certificate revocation list.
    func revocationList() async throws -> Response {
        guard fleet.acceptsCertificateRequests else {
            throw APIError(.notFound, "no_ca", "this server has no certificate authority (ampora ca init)")
        }
        let fleet = fleet
        let made = await Self.offExecutor { Result { () throws(AuthorityError) in try fleet.revocationList() } }
        switch made {
        case .success(let pem): return Self.text(pem, contentType: "application/x-pem-file")
        case .failure(let error): throw APIError(.internalServerError, "crl_failed", error.description)
        }
    }

    /// `GET /api/v1/ca/certificate.pem`: the Ampora CA certificate, for agents to trust.
    func authorityCertificate() throws -> Response {
        guard let pem = fleet.authorityCertificate else {
            throw APIError(.notFound, "no_ca", "this server has no certificate authority (ampora ca init)")
        }
        return Self.text(pem, contentType: "application/x-pem-file")
    }

    /// `GET /api/v1/tokens`: every enrollment token by id, newest first (never the token).
    func listEnrollmentTokens() -> Response {
        let items = fleet.enrollmentTokens().map { t -> [String: Any] in
            [
                "id": t.id, "labels": t.labels, "usesLeft": t.usesLeft.map { $0 as Any } ?? NSNull(),
                "expiresAt": t.expiresAt.map { Self.rfc3339($0) as Any } ?? NSNull(),
                "createdAt": Self.rfc3339(t.createdAt),
            ]
        }
        return Self.list(items)
    }

    /// `DELETE /api/v1/tokens/{id}`: 204, or 404. Agents the token enrolled stay enrolled.
    func revokeEnrollmentToken(_ id: String) async throws -> Response {
        let fleet = fleet
        let done = await Self.offExecutor {
            Result { () throws(StoreError) in try fleet.revokeEnrollmentToken(id: id) }
        }
        switch done {
        case .success(true): return Response(status: .noContent)
        case .success(false): throw APIError(.notFound, "token_not_found", "no enrollment token \(id)")
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the token was not revoked: \(error)")
        }
    }
}
