import COpenSSL
import Synchronization

// The module's OpenSSL calls that take or hand out raw pointers: the listener's
// context (`TLSContext.make`), what a loop's connections share (`TLSLoop`) and one connection's
// session (`TLSChannel`). The rest of the module sees bytes as spans and arrays.

// MARK: The context

/// One OpenSSL `SSL_CTX`, freed with the last reference. OpenSSL makes a context safe to share
/// between threads once it is set up (`SSL_new` takes its own reference), and this box is
/// never changed after `TLSContext.make`: that is what makes it safe to send.
final class SSLContextBox: @unchecked Sendable {
    let context: OpaquePointer

    init(_ context: OpaquePointer) { self.context = context }

    deinit { SSL_CTX_free(context) }
}

extension TLSContext {
    /// A server-side `SSL` for a new connection (nil only when OpenSSL is out of memory).
    func newSession() -> OpaquePointer? {
        SSL_new(box.context)
    }

    /// A context built from `settings`' files.
    static func make(_ settings: TLSSettings) throws(TLSError) -> SSLContextBox {
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

/// OpenSSL's ALPN callback: selects what `ALPN` chooses.
private func selectHTTP11(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32,
    _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let offered, let out, let outLength,
        let start = ALPN.http11(in: RawSpan(_unsafeStart: offered, byteCount: Int(offeredLength)))
    else { return SSL_TLSEXT_ERR_NOACK }
    out.pointee = offered + start
    outLength.pointee = UInt8(ALPN.http11Name.count)
    return SSL_TLSEXT_ERR_OK
}

// MARK: The loop's buffers and one connection

/// What every TLS connection of one loop shares: the context, one pair of memory BIOs, and
/// scratch buffers. A loop handles one connection at a time, so each connection's `SSL` reads
/// its ciphertext from the loop's read BIO and writes to the loop's write BIO, and both are
/// empty again when the event is done. An idle connection therefore holds neither BIOs nor
/// (with `SSL_MODE_RELEASE_BUFFERS`) record buffers: only its `SSL` and any partial record.
package final class TLSLoop {
    let context: TLSContext
    let rbio: OpaquePointer
    let wbio: OpaquePointer
    /// Decrypted bytes of one `SSL_read`.
    let plain: UnsafeMutableRawBufferPointer
    /// Ciphertext moved out of the write BIO.
    let chunk: UnsafeMutableRawBufferPointer
    /// The machine's output, before it is encrypted.
    var plainOut: [UInt8] = []

    /// Buffers for a loop serving `context`.
    package init(_ context: TLSContext) {
        self.context = context
        rbio = BIO_new(BIO_s_mem())
        wbio = BIO_new(BIO_s_mem())
        plain = .allocate(byteCount: 16 * 1024, alignment: 16)
        chunk = .allocate(byteCount: 16 * 1024, alignment: 16)
        plainOut.reserveCapacity(16 * 1024)
    }

    deinit {
        BIO_free(rbio)
        BIO_free(wbio)
        plain.deallocate()
        chunk.deallocate()
    }

    /// Appends everything in the write BIO to `out`.
    func drain(into out: inout [UInt8]) {
        while BIO_ctrl_pending(wbio) > 0 {
            let n = BIO_read(wbio, chunk.baseAddress, Int32(chunk.count))
            guard n > 0 else { return }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<Int(n)]))
        }
    }
}

/// One connection's TLS session, between its driver's bytes and its `ConnectionMachine`:
/// ciphertext in, plaintext to the machine, the machine's output sealed back into ciphertext.
/// A class so that the `SSL` is freed exactly once, with the connection's record.
package final class TLSChannel {
    /// `SSL` objects alive in this process: what a leak of handshake state would show, exactly,
    /// where the process's resident memory only shows it through the allocator's noise.
    package static let alive = Atomic<Int>(0)

    private let ssl: OpaquePointer
    /// A partial record left after an event (rare: OpenSSL usually consumes all it is given).
    private var carry: [UInt8] = []
    private(set) var established = false
    /// The handshake failed: the connection is closing, and what the peer still sends is dropped
    /// (it would fail, and be counted, again).
    private var failed = false
    /// SHA-256 of the client certificate, once the handshake verified it.
    package private(set) var peerFingerprint: [UInt8]?

    /// A server-side session on `loop`'s BIOs; nil when OpenSSL cannot make one (out of memory).
    init?(_ loop: TLSLoop) {
        guard let ssl = loop.context.newSession() else { return nil }
        self.ssl = ssl
        // SSL_set0_*bio takes over one reference to each: the loop keeps its own.
        BIO_up_ref(loop.rbio)
        BIO_up_ref(loop.wbio)
        SSL_set0_rbio(ssl, loop.rbio)
        SSL_set0_wbio(ssl, loop.wbio)
        SSL_set_accept_state(ssl)
        Self.alive.add(1, ordering: .relaxed)
    }

    deinit {
        SSL_free(ssl)
        Self.alive.subtract(1, ordering: .relaxed)
    }

    /// Ciphertext arrived: decrypts it for the machine and encrypts its answer into `out`.
    func receive(
        _ ciphertext: RawSpan, _ machine: inout ConnectionMachine, _ ctx: LoopContext, _ loop: TLSLoop,
        _ out: inout [UInt8]
    ) -> ConnectionAction {
        if failed { return .none }
        if !carry.isEmpty {
            _ = carry.withUnsafeBytes { BIO_write(loop.rbio, $0.baseAddress, Int32($0.count)) }
            carry = []
        }
        _ = ciphertext.withUnsafeBytes { BIO_write(loop.rbio, $0.baseAddress, Int32($0.count)) }
        defer { keepLeftover(loop) }
        if !established {
            let result = SSL_do_handshake(ssl)
            if result != 1 {
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                    loop.drain(into: &out)
                    return .none
                }
                // The alert OpenSSL queued goes out before the close.
                failed = true
                ctx.counters.tlsHandshakeFailures[TLSFailure.fromErrorQueue()] += 1
                loop.drain(into: &out)
                return machine.closeAfterFlush(ctx)
            }
            peerFingerprint = fingerprint()
            let identity = peerFingerprint.map(Self.identity)
            // A revoked certificate still verifies against its CA: it is refused here, and
            // nothing is read from the connection.
            if let identity, ctx.directory.isRevoked(identity: identity) {
                failed = true
                ctx.counters.tlsHandshakeFailures[.revoked] += 1
                loop.drain(into: &out)
                return machine.closeAfterFlush(ctx)
            }
            established = true
            ctx.counters.tlsHandshakes += 1
            machine.peerIdentity = identity
        }
        loop.plainOut.removeAll(keepingCapacity: true)
        var action = ConnectionAction.none
        while action != .close {
            let n = SSL_read(ssl, loop.plain.baseAddress, Int32(loop.plain.count))
            if n > 0 {
                let read = UnsafeMutableRawBufferPointer(rebasing: loop.plain[0..<Int(n)])
                var plain = MutableRawSpan(_unsafeBytes: read)
                let next = machine.receive(&plain, ctx, &loop.plainOut)
                if next != .none { action = next }
                // With nothing left to read, another SSL_read would only allocate a record
                // buffer (released buffers are re-made per call) to find the BIO empty.
                if BIO_ctrl_pending(loop.rbio) == 0 && SSL_has_pending(ssl) == 0 { break }
                continue
            }
            let error = SSL_get_error(ssl, n)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { break }
            // close_notify (the peer is done) or a protocol violation such as a renegotiation
            // attempt: answer what was already decided, then close.
            if error != SSL_ERROR_ZERO_RETURN { ctx.counters.tlsErrors += 1 }
            ERR_clear_error()
            if action == .none { action = machine.closeAfterFlush(ctx) }
            break
        }
        return seal(action, loop, &out)
    }

    /// Encrypts the machine's output (and a close_notify when it closes) into `out`.
    func seal(_ action: ConnectionAction, _ loop: TLSLoop, _ out: inout [UInt8]) -> ConnectionAction {
        guard established else {
            // Nothing may be sent in the clear: a timeout before the handshake ends just closes.
            loop.drain(into: &out)
            return action == .finish ? .close : action
        }
        if !loop.plainOut.isEmpty {
            let written = loop.plainOut.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            if written <= 0 {
                ERR_clear_error()
                return .close
            }
        }
        if action == .finish { _ = SSL_shutdown(ssl) }
        loop.drain(into: &out)
        return action
    }

    /// Keeps what OpenSSL left in the loop's read BIO for this connection's next event, so
    /// the BIO is empty for the next connection.
    private func keepLeftover(_ loop: TLSLoop) {
        let pending = Int(BIO_ctrl_pending(loop.rbio))
        guard pending > 0 else { return }
        var left = [UInt8](repeating: 0, count: pending)
        let n = left.withUnsafeMutableBytes { BIO_read(loop.rbio, $0.baseAddress, Int32(pending)) }
        carry = Array(left.prefix(Int(max(0, n))))
    }

    /// How a certificate fingerprint is named as an agent identity.
    static func identity(_ fingerprint: [UInt8]) -> String {
        "sha256:" + EnrollmentToken.hex(fingerprint)
    }

    /// SHA-256 of the verified client certificate, if one was presented.
    private func fingerprint() -> [UInt8]? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else { return nil }
        return Array(digest.prefix(Int(length)))
    }
}
