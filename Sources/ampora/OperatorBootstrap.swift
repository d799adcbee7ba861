import Fleet
import Foundation

/// The first credential of the operator plane: without one nobody could create the others.
enum OperatorBootstrap {
    /// Why the server cannot start with the given admin token file.
    struct Failure: Error {
        var message: String
    }

    /// With `adminTokenFile`: accepts the token in it, or writes a new one there (mode 0600)
    /// when the file does not exist. Without: on a database with no operator token at all, makes
    /// an admin token and returns what to print once, after the ready line on standard output
    /// (standard error is the log, which may be JSON, filtered by level, or shipped elsewhere).
    static func run(fleet: FleetService, adminTokenFile: String?) throws -> String? {
        guard let path = adminTokenFile else {
            guard fleet.hasNoAccessTokens else { return nil }
            let (token, _) = try fleet.createAccessToken(
                role: .admin, name: "bootstrap", expiresAfterMilliseconds: nil, createdBy: "server")
            return """
                ampora: no operator token existed, so this admin token was made; it is shown once \
                (only its hash is kept):
                \(token)
                ampora: send it as `Authorization: Bearer TOKEN`, create others with \
                `ampora token create --role …` or POST /api/v1/access-tokens, then revoke this one.

                """
        }
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path),
                let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines)
            else { throw Failure(message: "--admin-token-file \(path): cannot be read as text") }
            guard text.utf8.count >= 16, text.utf8.count <= 512, !text.contains(where: \.isWhitespace) else {
                throw Failure(
                    message: "--admin-token-file \(path): the token must be 16 to 512 characters without spaces")
            }
            try fleet.registerAdminToken(text, name: "admin-token-file")
            return nil
        }
        let (token, _) = try fleet.createAccessToken(
            role: .admin, name: "admin-token-file", expiresAfterMilliseconds: nil, createdBy: "server")
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw Failure(message: "--admin-token-file \(path): cannot be created") }
        return nil
    }
}
