import COpenSSL
import Synchronization

/// One OpenSSL `SSL_CTX`, freed with the last reference. OpenSSL makes a context safe to share
/// between threads once it is set up (`SSL_new` takes its own reference), and this box is
/// never changed after `TLSContext.make`: that is what makes it safe to send.
final class SSLContextBox: @unchecked Sendable {
    let context: OpaquePointer

    init(_ context: OpaquePointer) { self.context = context }

    deinit { SSL_CTX_free(context) }
}

/// The agent listener's TLS setup, shared by every loop. `reload` swaps in a context built from
/// the files again (certificate rotation on SIGHUP); connections already open keep theirs.
public final class TLSContext: Sendable {
    private let current: Mutex<SSLContextBox>
    /// Where the certificate and trust come from.
    public let settings: TLSSettings

    /// Loads the certificate, key and client CAs; throws if any is unusable.
    public init(_ settings: TLSSettings) throws(TLSError) {
        self.settings = settings
        current = Mutex(try Self.make(settings))
    }

    /// Builds a new context from the same files; the old one stays in use if this throws.
    public func reload() throws(TLSError) {
        let fresh = try Self.make(settings)
        current.withLock { $0 = fresh }
    }

    /// A server-side `SSL` for a new connection (nil only when OpenSSL is out of memory).
    func newSession() -> OpaquePointer? {
        let box = current.withLock { $0 }
        return SSL_new(box.context)
    }

    private static func make(_ settings: TLSSettings) throws(TLSError) -> SSLContextBox {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw failure("SSL_CTX_new") }
        let box = SSLContextBox(ctx)
        let minimum = settings.minimumVersion == .tls13 ? ampora_tls1_3_version() : ampora_tls1_2_version()
        guard ampora_ssl_ctx_set_min_proto(ctx, minimum) == 1 else { throw failure("setting the minimum version") }
        // Idle connections give their record buffers back; a reply is written whole.
        _ = ampora_ssl_ctx_set_mode(ctx, ampora_mode_release_buffers() | ampora_mode_partial_write())
        // No renegotiation (a client could make the server redo handshakes at will); the
        // server's cipher order.
        _ = SSL_CTX_set_options(ctx, ampora_op_no_renegotiation() | ampora_op_cipher_server_preference())
        // Resumption by stateless tickets only: no session is kept in server memory. A server
        // that verifies clients resumes only sessions of its own context (OpenSSL refuses with
        // an internal-error alert without one).
        _ = ampora_ssl_ctx_set_session_cache_mode(ctx, 0)
        let sessionContext = Array("ampora-agents".utf8)
        guard SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count)) == 1 else {
            throw failure("setting the session id context")
        }
        guard SSL_CTX_use_certificate_chain_file(ctx, settings.certificateFile) == 1 else {
            throw failure("reading the certificate \(settings.certificateFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, settings.keyFile, SSL_FILETYPE_PEM) == 1 else {
            if ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH {
                ERR_clear_error()
                throw TLSError(
                    description:
                        "TLS: the key \(settings.keyFile) does not match the certificate \(settings.certificateFile)")
            }
            throw failure("reading the key \(settings.keyFile)")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw failure("the key \(settings.keyFile) does not match the certificate")
        }
        SSL_CTX_set_alpn_select_cb(ctx, selectHTTP11, nil)
        let hasClientCA = settings.clientCAFile != nil || !settings.clientCAs.isEmpty
        if hasClientCA, settings.clientAuth != .none {
            if let caFile = settings.clientCAFile {
                guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                    throw failure("reading the client CA \(caFile)")
                }
                if let names = SSL_load_client_CA_file(caFile) { SSL_CTX_set_client_CA_list(ctx, names) }
            }
            for pem in settings.clientCAs {
                let certificate: OpaquePointer? = Array(pem.utf8).withUnsafeBytes { raw in
                    guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
                    defer { BIO_free(bio) }
                    return PEM_read_bio_X509(bio, nil, nil, nil)
                }
                guard let certificate else { throw failure("reading the Ampora CA certificate") }
                defer { X509_free(certificate) }
                guard X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), certificate) == 1,
                    SSL_CTX_add_client_CA(ctx, certificate) == 1
                else { throw failure("trusting the Ampora CA certificate") }
            }
            var mode = SSL_VERIFY_PEER
            if settings.clientAuth == .require { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
            SSL_CTX_set_verify(ctx, mode, nil)
        }
        return box
    }

    /// OpenSSL's error queue as one line, cleared.
    static func errorQueue() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        let length = ampora_error_queue(&buffer, buffer.count)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func failure(_ step: String) -> TLSError {
        let reason = errorQueue()
        return TLSError(description: reason.isEmpty ? "TLS: \(step) failed" : "TLS: \(step) failed: \(reason)")
    }
}

/// ALPN: OpAMP is HTTP/1.1 (and WebSocket over it); a client that offers only other protocols
/// is served without ALPN rather than refused.
private func selectHTTP11(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32,
    _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    var i = 0
    let count = Int(offeredLength)
    while i < count {
        let length = Int(offered[i])
        let start = i + 1
        guard start + length <= count else { break }
        if length == 8 && (0..<8).allSatisfy({ offered[start + $0] == httpSlash11[$0] }) {
            out.pointee = offered + start
            outLength.pointee = 8
            return SSL_TLSEXT_ERR_OK
        }
        i = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

private let httpSlash11: [UInt8] = Array("http/1.1".utf8)
