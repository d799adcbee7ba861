import COpenSSL
import Core
import Foundation

/// Ampora's own certificate authority: an ECDSA P-256 key and a self-signed certificate that
/// sign agents' client certificates (from their CSRs, S17 in docs/PROTOCOL.md) and the
/// revocation list. Every step is OpenSSL's (no ASN.1 is written here); the key and
/// certificate are only read after `init`, which OpenSSL allows from several threads at once.
public final class CertificateAuthority: @unchecked Sendable {
    private let certificate: OpaquePointer
    private let key: OpaquePointer
    /// The CA certificate, PEM: what agents and the TLS listener trust.
    public let certificatePEM: String

    private init(certificate: OpaquePointer, key: OpaquePointer, pem: String) {
        self.certificate = certificate
        self.key = key
        certificatePEM = pem
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
    }

    /// A new CA: a fresh P-256 key and a self-signed certificate valid for `days` from `now`
    /// (seconds since the Unix epoch).
    public static func create(commonName: String, days: Int, now: Int64) throws(AuthorityError) -> CertificateAuthority
    {
        guard let key = ampora_ec_p256_generate() else { throw failure("generating the CA key") }
        guard let x509 = X509_new() else {
            EVP_PKEY_free(key)
            throw failure("X509_new")
        }
        do throws(AuthorityError) {
            guard let subject = X509_get_subject_name(x509),
                X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
                X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, "Ampora", -1, -1, 0) == 1,
                X509_set_issuer_name(x509, subject) == 1
            else { throw failure("naming the CA") }
            try fill(
                x509, publicKey: key, issuer: x509, notBefore: now - 300, notAfter: now + Int64(days) * 86_400,
                extensions: [
                    (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                    (NID_key_usage, "critical,keyCertSign,cRLSign"),
                    (NID_subject_key_identifier, "hash"),
                ], signer: key)
            return CertificateAuthority(certificate: x509, key: key, pem: try pem { PEM_write_bio_X509($0, x509) })
        } catch {
            X509_free(x509)
            EVP_PKEY_free(key)
            throw error
        }
    }

    /// The CA from its stored certificate and key (`passphrase` when the key is encrypted).
    public static func load(certificatePEM: String, keyPEM: String, passphrase: String?) throws(AuthorityError)
        -> CertificateAuthority
    {
        guard let x509 = read(certificatePEM, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            throw failure("reading the CA certificate")
        }
        let key = read(keyPEM) { bio in
            var secret = Array((passphrase ?? "").utf8CString)
            return secret.withUnsafeMutableBytes {
                PEM_read_bio_PrivateKey(bio, nil, passphraseCallback, passphrase == nil ? nil : $0.baseAddress)
            }
        }
        guard let key else {
            X509_free(x509)
            throw failure(passphrase == nil ? "reading the CA key (is it encrypted?)" : "decrypting the CA key")
        }
        guard X509_check_private_key(x509, key) == 1 else {
            X509_free(x509)
            EVP_PKEY_free(key)
            throw failure("the CA key does not match the CA certificate")
        }
        return CertificateAuthority(certificate: x509, key: key, pem: certificatePEM)
    }

    /// The CA key as PKCS #8 PEM, encrypted with AES-256 when `passphrase` is given.
    public func keyPEM(passphrase: String?) throws(AuthorityError) -> String {
        var secret = Array((passphrase ?? "").utf8CString.dropLast().map { UInt8(bitPattern: $0) })
        let key = key
        return try Self.pem { bio in
            secret.withUnsafeMutableBytes { raw in
                let chars = raw.baseAddress?.assumingMemoryBound(to: CChar.self)
                return passphrase == nil
                    ? PEM_write_bio_PKCS8PrivateKey(bio, key, nil, nil, 0, nil, nil)
                    : PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), chars, Int32(raw.count), nil, nil)
            }
        }
    }

    /// Signs an agent's CSR (PEM) after the checks S17 names: a parseable request whose
    /// signature matches its key, a key of sane strength, and, when the request names an
    /// instance uid (subject common name or a `urn:uuid:` SAN), that uid is `uid`.
    public func sign(request csr: [UInt8], for uid: InstanceUID, lifetimeSeconds: Int64, now: Int64)
        throws(AuthorityError) -> IssuedCertificate
    {
        guard csr.count <= Self.maximumRequestBytes else {
            throw AuthorityError("certificate_request.csr is larger than 64 KiB")
        }
        guard let request = Self.read(csr, { PEM_read_bio_X509_REQ($0, nil, nil, nil) }) else {
            ERR_clear_error()
            throw AuthorityError("certificate_request.csr is not a PEM certificate signing request")
        }
        defer { X509_REQ_free(request) }
        guard let publicKey = X509_REQ_get_pubkey(request) else {
            ERR_clear_error()
            throw AuthorityError("the certificate signing request has no usable public key")
        }
        defer { EVP_PKEY_free(publicKey) }
        guard X509_REQ_verify(request, publicKey) == 1 else {
            ERR_clear_error()
            throw AuthorityError("the certificate signing request's signature does not match its key")
        }
        let bits = EVP_PKEY_get_bits(publicKey)
        switch EVP_PKEY_get_base_id(publicKey) {
        case EVP_PKEY_EC where bits >= 256, EVP_PKEY_RSA where bits >= 2048, EVP_PKEY_ED25519: break
        default:
            throw AuthorityError("the CSR's key is too weak or of an unknown kind (use ECDSA P-256 or RSA 2048+)")
        }
        for named in Self.uidsNamed(in: request) where named != uid {
            throw AuthorityError("the CSR is for instance_uid \(named), not for this agent's \(uid)")
        }
        return try issue(publicKey: publicKey, uid: uid, lifetimeSeconds: lifetimeSeconds, now: now)
    }

    /// A new certificate for a key this CA certified before (renewal without a new CSR).
    public func renew(publicKey der: [UInt8], for uid: InstanceUID, lifetimeSeconds: Int64, now: Int64)
        throws(AuthorityError) -> IssuedCertificate
    {
        let key: OpaquePointer? = der.withUnsafeBytes { raw in
            var cursor = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return d2i_PUBKEY(nil, &cursor, raw.count)
        }
        guard let key else { throw Self.failure("reading a stored public key") }
        defer { EVP_PKEY_free(key) }
        return try issue(publicKey: key, uid: uid, lifetimeSeconds: lifetimeSeconds, now: now)
    }

    /// The certificate revocation list (PEM) naming `revoked` serials (hex) with when
    /// (milliseconds), issued at `now` (seconds) and valid for a week.
    public func revocationList(_ revoked: [(serial: String, at: Int64)], now: Int64) throws(AuthorityError) -> String {
        guard let crl = X509_CRL_new() else { throw Self.failure("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1, X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate)) == 1
        else { throw Self.failure("naming the CRL's issuer") }
        guard let last = ASN1_TIME_set(nil, time_t(now)), let next = ASN1_TIME_set(nil, time_t(now + 7 * 86_400))
        else { throw Self.failure("CRL times") }
        defer {
            ASN1_TIME_free(last)
            ASN1_TIME_free(next)
        }
        _ = X509_CRL_set1_lastUpdate(crl, last)
        _ = X509_CRL_set1_nextUpdate(crl, next)
        for entry in revoked {
            guard let item = X509_REVOKED_new() else { throw Self.failure("X509_REVOKED_new") }
            var number: OpaquePointer? = nil
            guard BN_hex2bn(&number, entry.serial) > 0, let number,
                let serial = BN_to_ASN1_INTEGER(number, nil),
                let when = ASN1_TIME_set(nil, time_t(entry.at / 1000))
            else {
                X509_REVOKED_free(item)
                throw Self.failure("a revoked serial \(entry.serial)")
            }
            _ = X509_REVOKED_set_serialNumber(item, serial)
            _ = X509_REVOKED_set_revocationDate(item, when)
            ASN1_INTEGER_free(serial)
            ASN1_TIME_free(when)
            BN_free(number)
            _ = X509_CRL_add0_revoked(crl, item)
        }
        _ = X509_CRL_sort(crl)
        guard X509_CRL_sign(crl, key, EVP_sha256()) > 0 else { throw Self.failure("signing the CRL") }
        return try Self.pem { PEM_write_bio_X509_CRL($0, crl) }
    }

    private func issue(publicKey: OpaquePointer, uid: InstanceUID, lifetimeSeconds: Int64, now: Int64)
        throws(AuthorityError) -> IssuedCertificate
    {
        guard let x509 = X509_new() else { throw Self.failure("X509_new") }
        defer { X509_free(x509) }
        guard let subject = X509_get_subject_name(x509),
            X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, uid.description, -1, -1, 0) == 1,
            X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, "Ampora agents", -1, -1, 0) == 1,
            X509_set_issuer_name(x509, X509_get_subject_name(certificate)) == 1
        else { throw Self.failure("naming the certificate") }
        let notBefore = now - Self.backdateSeconds
        let notAfter = now + lifetimeSeconds
        let serial = try Self.fill(
            x509, publicKey: publicKey, issuer: certificate, notBefore: notBefore, notAfter: notAfter,
            extensions: [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
                (NID_ext_key_usage, "clientAuth"),
                (NID_subject_alt_name, "URI:urn:uuid:\(uid)"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ], signer: key)
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard X509_digest(x509, EVP_sha256(), &digest, &length) == 1 else { throw Self.failure("fingerprint") }
        let der = try Self.publicKeyDER(publicKey)
        return IssuedCertificate(
            uid: uid, serial: serial, identity: "sha256:" + ConfigHash.hex(Array(digest.prefix(Int(length)))),
            certificatePEM: try Self.pem { PEM_write_bio_X509($0, x509) }, publicKey: der,
            notBefore: notBefore * 1000, notAfter: notAfter * 1000)
    }

    /// Serial, validity, key, extensions and signature of `x509` (subject and issuer already
    /// named); returns the serial in hex.
    @discardableResult
    private static func fill(
        _ x509: OpaquePointer, publicKey: OpaquePointer, issuer: OpaquePointer, notBefore: Int64, notAfter: Int64,
        extensions: [(Int32, String)], signer: OpaquePointer
    ) throws(AuthorityError) -> String {
        // 128 random bits, positive (the top bit clear) and never zero.
        var random = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&random, Int32(random.count)) == 1 else { throw failure("RAND_bytes") }
        random[0] = (random[0] & 0x7F) | 0x40
        guard let number = BN_bin2bn(random, Int32(random.count), nil) else { throw failure("BN_bin2bn") }
        defer { BN_free(number) }
        guard X509_set_version(x509, 2) == 1, BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil,
            ASN1_TIME_set(X509_getm_notBefore(x509), time_t(notBefore)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x509), time_t(notAfter)) != nil,
            X509_set_pubkey(x509, publicKey) == 1
        else { throw failure("filling in the certificate") }
        var context = X509V3_CTX()
        ampora_x509v3_set_ctx(&context, issuer, x509, nil)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw failure("the extension \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw failure("adding the extension \(value)") }
        }
        guard X509_sign(x509, signer, EVP_sha256()) > 0 else { throw failure("signing the certificate") }
        return ConfigHash.hex(random)
    }

    /// Instance uids a CSR names: its subject's common name, and `urn:uuid:` URIs among its
    /// subject alternative names; text that is not a UUID names none.
    private static func uidsNamed(in request: OpaquePointer) -> [InstanceUID] {
        var found: [InstanceUID] = []
        if let name = X509_REQ_get_subject_name(request) {
            var index: Int32 = -1
            while true {
                index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
                guard index >= 0 else { break }
                if let text = text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index))),
                    let uid = uuid(text)
                {
                    found.append(uid)
                }
            }
        }
        guard let extensions = X509_REQ_get_extensions(request) else {
            ERR_clear_error()
            return found
        }
        defer { ampora_extensions_free(extensions) }
        for i in 0..<ampora_stack_count(UnsafeRawPointer(extensions)) {
            let ext = OpaquePointer(ampora_stack_value(UnsafeRawPointer(extensions), i))
            guard OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name,
                let decoded = X509V3_EXT_d2i(ext)
            else { continue }
            let names = OpaquePointer(decoded)
            defer { ampora_general_names_free(names) }
            for j in 0..<ampora_stack_count(UnsafeRawPointer(names)) {
                guard let raw = ampora_stack_value(UnsafeRawPointer(names), j) else { continue }
                let general = raw.assumingMemoryBound(to: GENERAL_NAME.self)
                guard general.pointee.type == GEN_URI,
                    let uri = text(general.pointee.d.uniformResourceIdentifier), uri.hasPrefix("urn:uuid:"),
                    let uid = uuid(String(uri.dropFirst(9)))
                else { continue }
                found.append(uid)
            }
        }
        return found
    }

    private static func text(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, length <= 1024 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self)
    }

    private static func publicKeyDER(_ key: OpaquePointer) throws(AuthorityError) -> [UInt8] {
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(key, &buffer)
        guard length > 0, let buffer else { throw failure("encoding a public key") }
        defer { CRYPTO_free(buffer, nil, 0) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
    }

    /// Reads one PEM object from `text` with `read`.
    private static func read(_ text: String, _ read: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        Self.read(Array(text.utf8), read)
    }

    private static func read(_ bytes: [UInt8], _ read: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio)
        }
    }

    /// What `write` puts into a memory BIO, as text.
    private static func pem(_ write: (OpaquePointer) -> Int32) throws(AuthorityError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw failure("writing PEM") }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = ampora_bio_mem_data(bio, &data)
        guard let data, length > 0 else { throw failure("writing PEM") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    private static func failure(_ step: String) -> AuthorityError {
        var buffer = [CChar](repeating: 0, count: 2048)
        let length = ampora_error_queue(&buffer, buffer.count)
        let reasons = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return AuthorityError(reasons.isEmpty ? "CA: \(step) failed" : "CA: \(step) failed: \(reasons)")
    }
}

/// Hands OpenSSL the passphrase given as `user` (a C string); never prompts on a terminal.
private let passphraseCallback:
    @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?)
        -> Int32 = { buffer, size, _, user in
            guard let buffer, let user else { return 0 }
            let text = user.assumingMemoryBound(to: CChar.self)
            let length = strlen(text)
            guard length <= Int(size) else { return 0 }
            memcpy(buffer, text, length)
            return Int32(length)
        }
