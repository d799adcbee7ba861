import Core

extension CertificateAuthority {
    /// How far before its issue a certificate is valid from: an agent whose clock is a little
    /// behind can use it at once.
    public static let backdateSeconds: Int64 = 300

    /// Largest CSR read, far above any real one (a few hundred bytes to a few KiB).
    static let maximumRequestBytes = 64 << 10

    static func uuid(_ text: String) -> InstanceUID? {
        text.utf8.count == 36 ? InstanceUID(string: text) : nil
    }
}
