import COpenSSL
import Synchronization

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

    /// Applies `event` through TLS: what the machine produces is encrypted into `out`.
    func handle(
        _ event: ConnectionEvent, _ machine: inout ConnectionMachine, _ ctx: LoopContext, _ loop: TLSLoop,
        _ out: inout [UInt8]
    ) -> ConnectionAction {
        switch event {
        case .received(let ciphertext):
            return receive(ciphertext, &machine, ctx, loop, &out)
        case .closed, .shed, .flushed:
            var nothing: [UInt8] = []
            return machine.handle(event, ctx, &nothing)
        case .tick, .push, .disconnect, .release, .command, .shutdown:
            loop.plainOut.removeAll(keepingCapacity: true)
            let action = machine.handle(event, ctx, &loop.plainOut)
            return seal(action, loop, &out)
        }
    }

    private func receive(
        _ ciphertext: UnsafeMutableRawBufferPointer, _ machine: inout ConnectionMachine, _ ctx: LoopContext,
        _ loop: TLSLoop, _ out: inout [UInt8]
    ) -> ConnectionAction {
        if failed { return .none }
        if !carry.isEmpty {
            _ = carry.withUnsafeBytes { BIO_write(loop.rbio, $0.baseAddress, Int32($0.count)) }
            carry = []
        }
        _ = BIO_write(loop.rbio, ciphertext.baseAddress, Int32(ciphertext.count))
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
                let plain = UnsafeMutableRawBufferPointer(rebasing: loop.plain[0..<Int(n)])
                let next = machine.handle(.received(plain), ctx, &loop.plainOut)
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
    private func seal(_ action: ConnectionAction, _ loop: TLSLoop, _ out: inout [UInt8]) -> ConnectionAction {
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
