/// Why the certificate authority could not do what it was asked, in words for an operator (or,
/// for a refused CSR, for the agent's `error_response`).
public struct AuthorityError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String

    init(_ description: String) { self.description = description }
}
