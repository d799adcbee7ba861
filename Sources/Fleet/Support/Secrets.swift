import Foundation

/// Bearer secrets (enrollment and operator tokens): made here, stored only as their hash.
enum Secrets {
    /// `prefix` and 32 random bytes, base64url without padding.
    static func token(prefix: String) -> String {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + text
    }

    /// Hex SHA-256 of a secret, as stored and looked up.
    static func hash(_ secret: String) -> String {
        ConfigHash.hex(ConfigHash.sha256(Array(secret.utf8)))
    }
}
