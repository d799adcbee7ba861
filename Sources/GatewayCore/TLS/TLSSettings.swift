/// Which TLS versions an agent listener accepts at the least.
public enum TLSMinimumVersion: String, Sendable, CaseIterable {
    /// TLS 1.2 and 1.3.
    case tls12 = "1.2"
    /// TLS 1.3 only.
    case tls13 = "1.3"
}

/// Whether agents must present a client certificate.
public enum TLSClientAuth: String, Sendable, CaseIterable {
    /// Never asked for.
    case none
    /// Asked for and verified if sent; agents without one are still served.
    case optional
    /// Required: a handshake without a valid client certificate fails.
    case require
}

/// Where the agent listener's certificate and trust come from (PEM files).
public struct TLSSettings: Sendable {
    /// The server certificate, followed by its chain.
    public var certificateFile: String
    /// The server's private key (ECDSA or RSA).
    public var keyFile: String
    /// CAs that sign client certificates; nil: client certificates are not asked for.
    public var clientCAFile: String?
    /// More client CAs, PEM (Ampora's own CA, kept in the database).
    public var clientCAs: [String]
    /// Whether a client certificate is asked for or required (needs a client CA).
    public var clientAuth: TLSClientAuth
    /// The oldest TLS version accepted.
    public var minimumVersion: TLSMinimumVersion

    /// Settings from files; client authentication is `optional` when a client CA is given.
    public init(
        certificateFile: String, keyFile: String, clientCAFile: String? = nil, clientCAs: [String] = [],
        clientAuth: TLSClientAuth? = nil, minimumVersion: TLSMinimumVersion = .tls12
    ) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.clientCAs = clientCAs
        self.clientAuth = clientAuth ?? (clientCAFile == nil && clientCAs.isEmpty ? .none : .optional)
        self.minimumVersion = minimumVersion
    }
}

/// A TLS setup that cannot be used: which file or step, and OpenSSL's reason.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    /// What failed, with OpenSSL's own words.
    public var description: String
}
