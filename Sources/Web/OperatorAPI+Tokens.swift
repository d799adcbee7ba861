import Fleet
import Foundation
import Hummingbird

extension OperatorAPI {
    /// `POST /api/v1/tokens`: a new enrollment token, in the answer only (only its hash is kept).
    /// Body: `{"uses": N, "expiresInSeconds": N, "labels": {"k": "v"}}`, every field optional.
    func createToken(_ request: Request) async throws -> Response {
        let body = try await Self.collect(request, limit: 64 << 10)
        let parsed = body.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard let object = parsed else { throw APIError(.badRequest, "invalid_json", "the body must be a JSON object") }
        let known: Set<String> = ["uses", "expiresInSeconds", "labels"]
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw APIError(.badRequest, "invalid_field", "unknown field \(unknown)")
        }
        let uses = try Self.positive(object["uses"], "uses")
        let expires = try Self.positive(object["expiresInSeconds"], "expiresInSeconds")
        var labels: [String: String] = [:]
        if let raw = object["labels"] {
            guard let map = raw as? [String: String] else {
                throw APIError(.badRequest, "invalid_field", "labels must be an object of strings")
            }
            labels = map
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
        case .success(let token):
            var answer: [String: Any] = ["token": token, "labels": labels]
            if let uses { answer["uses"] = uses }
            if let expires { answer["expiresInSeconds"] = expires }
            return Self.json(answer, status: .created)
        case .failure(let error):
            throw APIError(.serviceUnavailable, "database_unavailable", "the token was not stored: \(error)")
        }
    }

    /// A positive whole number from a JSON field, or nil when absent.
    private static func positive(_ value: Any?, _ name: String) throws -> Int64? {
        guard let value else { return nil }
        guard let number = value as? Int, number >= 1 else {
            throw APIError(.badRequest, "invalid_field", "\(name) must be a whole number of at least 1")
        }
        return Int64(number)
    }
}
