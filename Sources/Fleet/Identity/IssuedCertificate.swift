import Core

/// A client certificate the authority issued to an agent.
public struct IssuedCertificate: Sendable, Equatable {
    /// The agent it was issued to (its subject's common name).
    public var uid: InstanceUID
    /// The serial number, hex.
    public var serial: String
    /// `sha256:` and the certificate's hex SHA-256: how a TLS connection names it.
    public var identity: String
    /// The certificate, PEM.
    public var certificatePEM: String
    /// The subject's public key (DER `SubjectPublicKeyInfo`): a renewal signs it again.
    public var publicKey: [UInt8]
    /// Validity, milliseconds since the Unix epoch.
    public var notBefore: Int64
    /// Validity, milliseconds since the Unix epoch.
    public var notAfter: Int64
}
