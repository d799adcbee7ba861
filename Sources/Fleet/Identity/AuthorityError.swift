import COpenSSL

/// Why the certificate authority could not do what it was asked, in words for an operator (or,
/// for a refused CSR, for the agent's `error_response`).
public struct AuthorityError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String

    init(_ description: String) { self.description = description }
}

extension CertificateAuthority {
    /// `step` failed inside OpenSSL: the error names the step and OpenSSL's queued reasons
    /// (which reading them clears, so the next call starts clean).
    static func failure(_ step: String) -> AuthorityError {
        var buffer = [CChar](repeating: 0, count: 2048)
        let length = ampora_error_queue(&buffer, buffer.count)
        let reasons = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return AuthorityError(reasons.isEmpty ? "CA: \(step) failed" : "CA: \(step) failed: \(reasons)")
    }
}
