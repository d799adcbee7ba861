import NIOSSL

/// TLS for the operator port (`--http-tls-cert`, `--http-tls-key`): PEM files, read at start.
public struct OperatorTLS: Sendable {
    let configuration: TLSConfiguration

    /// Loads the certificate chain and key; throws a one-line reason when either is unusable.
    public init(certificateFile: String, keyFile: String) throws {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = ["http/1.1"]
            self.configuration = configuration
        } catch {
            throw OperatorTLSError(description: "operator TLS (\(certificateFile), \(keyFile)): \(error)")
        }
    }
}

/// Why the operator port's certificate or key cannot be used.
public struct OperatorTLSError: Error, CustomStringConvertible {
    /// One line.
    public var description: String
}
