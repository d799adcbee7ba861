import COpenSSL

/// Why a TLS handshake failed, as counted in the metrics.
package enum TLSFailure: Int, CaseIterable, Sendable {
    /// A TLS version below the listener's minimum (or no common version).
    case version
    /// No client certificate where one is required, or one that does not verify.
    case certificate
    /// Bytes that are not TLS at all (plain HTTP on the TLS port, garbage).
    case notTLS
    /// A client certificate an operator revoked (the handshake itself succeeded).
    case revoked
    /// Anything else (a bad record, an alert from the client, a cipher mismatch).
    case other

    /// The metric label.
    package var label: String {
        switch self {
        case .version: "version"
        case .certificate: "certificate"
        case .notTLS: "not_tls"
        case .revoked: "revoked"
        case .other: "other"
        }
    }

    /// The category of OpenSSL's first queued error, which is then cleared.
    static func fromErrorQueue() -> TLSFailure {
        let code = ERR_peek_error()
        ERR_clear_error()
        switch ERR_GET_REASON(code) {
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_WRONG_VERSION_NUMBER, SSL_R_VERSION_TOO_LOW,
            SSL_R_NO_PROTOCOLS_AVAILABLE:
            return .version
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SSL_R_CERTIFICATE_VERIFY_FAILED:
            return .certificate
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST, SSL_R_UNKNOWN_PROTOCOL, SSL_R_RECORD_LENGTH_MISMATCH,
            SSL_R_PACKET_LENGTH_TOO_LONG:
            return .notTLS
        default:
            return .other
        }
    }
}
