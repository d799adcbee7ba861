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
            try name(x509, commonName: commonName, organization: "Ampora", issuer: nil)
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
        guard let x509 = read(Array(certificatePEM.utf8), { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            throw failure("reading the CA certificate")
        }
        // With no callback OpenSSL takes `u` as the passphrase; an empty one (never a prompt on
        // a terminal) is what an unencrypted key is read with.
        var secret = Array((passphrase ?? "").utf8CString)
        let key = read(Array(keyPEM.utf8)) { PEM_read_bio_PrivateKey($0, nil, nil, &secret) }
        guard let key else {
            X509_free(x509)
            throw failure(passphrase == nil ? "reading the CA key (is it encrypted?)" : "decrypting the CA key")
        }
        let authority = CertificateAuthority(certificate: x509, key: key, pem: certificatePEM)
        guard X509_check_private_key(x509, key) == 1 else {
            throw failure("the CA key does not match the CA certificate")
        }
        return authority
    }

    /// The CA key as PKCS #8 PEM, encrypted with AES-256 when `passphrase` is given.
    public func keyPEM(passphrase: String?) throws(AuthorityError) -> String {
        try Self.check(passphrase: passphrase)
        let key = key
        return try Self.pem { bio in
            guard let passphrase else { return PEM_write_bio_PKCS8PrivateKey(bio, key, nil, nil, 0, nil, nil) }
            let length = Int32(passphrase.utf8.count)
            return PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase, length, nil, nil)
        }
    }

    /// Signs an agent's CSR (PEM) once `check(_:for:)` accepts what OpenSSL reads from it.
    public func sign(request csr: [UInt8], for uid: InstanceUID, lifetimeSeconds: Int64, now: Int64)
        throws(AuthorityError) -> IssuedCertificate
    {
        try Self.check(size: csr.count)
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
        let signed = X509_REQ_verify(request, publicKey) == 1
        if !signed { ERR_clear_error() }
        try Self.check(
            RequestFacts(
                signatureMatches: signed, keyKind: EVP_PKEY_get_base_id(publicKey),
                keyBits: EVP_PKEY_get_bits(publicKey), uidsNamed: Self.uidsNamed(in: request)),
            for: uid)
        return try issue(publicKey: publicKey, uid: uid, lifetimeSeconds: lifetimeSeconds, now: now)
    }

    /// A new certificate for a key this CA certified before (renewal without a new CSR).
    public func renew(publicKey der: [UInt8], for uid: InstanceUID, lifetimeSeconds: Int64, now: Int64)
        throws(AuthorityError) -> IssuedCertificate
    {
        guard let key = Self.read(der, { d2i_PUBKEY_bio($0, nil) }) else {
            throw Self.failure("reading a stored public key")
        }
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
            guard let serial = s2i_ASN1_INTEGER(nil, "0x" + entry.serial),
                let when = ASN1_TIME_set(nil, time_t(entry.at / 1000))
            else {
                X509_REVOKED_free(item)
                throw Self.failure("a revoked serial \(entry.serial)")
            }
            _ = X509_REVOKED_set_serialNumber(item, serial)
            _ = X509_REVOKED_set_revocationDate(item, when)
            ASN1_INTEGER_free(serial)
            ASN1_TIME_free(when)
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
        try Self.name(x509, commonName: uid.description, organization: "Ampora agents", issuer: certificate)
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
        let der = try Self.written { i2d_PUBKEY_bio($0, publicKey) }
        return IssuedCertificate(
            uid: uid, serial: serial, identity: "sha256:" + ConfigHash.hex(Array(digest.prefix(Int(length)))),
            certificatePEM: try Self.pem { PEM_write_bio_X509($0, x509) }, publicKey: der,
            notBefore: notBefore * 1000, notAfter: notAfter * 1000)
    }

    /// Names `x509`'s subject, and its issuer: `issuer`'s subject, or its own when self-signed.
    private static func name(_ x509: OpaquePointer, commonName: String, organization: String, issuer: OpaquePointer?)
        throws(AuthorityError)
    {
        guard let subject = X509_get_subject_name(x509),
            X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
            X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, organization, -1, -1, 0) == 1,
            X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0) } ?? subject) == 1
        else { throw failure("naming the certificate \(commonName)") }
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
    /// subject alternative names; text that is not a UUID names none. `nil` when the request
    /// carries the subjectAltName extension more than once (RFC 5280 allows one).
    private static func uidsNamed(in request: OpaquePointer) -> [InstanceUID]? {
        var found: [InstanceUID] = []
        if let name = X509_REQ_get_subject_name(request) {
            var index: Int32 = -1
            while true {
                index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
                guard index >= 0 else { break }
                if let text = text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index))), let uid = uuid(text) {
                    found.append(uid)
                }
            }
        }
        let extensions = X509_REQ_get_extensions(request)
        defer { ampora_extensions_free(extensions) }
        var critical: Int32 = 0
        let decoded = X509V3_get_d2i(extensions, NID_subject_alt_name, &critical, nil)
        ERR_clear_error()
        guard let decoded else { return critical == -2 ? nil : found }
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
        return found
    }

    private static func text(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, length <= 1024 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// Reads one object (PEM or DER) from `bytes` with `read`.
    private static func read(_ bytes: [UInt8], _ read: (OpaquePointer) -> OpaquePointer?) -> OpaquePointer? {
        bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio)
        }
    }

    /// What `write` puts into a memory BIO (PEM text, or DER).
    private static func written(_ write: (OpaquePointer) -> Int32) throws(AuthorityError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw failure("writing PEM or DER") }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = ampora_bio_mem_data(bio, &data)
        guard let data, length > 0 else { throw failure("writing PEM or DER") }
        return Array(UnsafeRawBufferPointer(start: data, count: length))
    }

    private static func pem(_ write: (OpaquePointer) -> Int32) throws(AuthorityError) -> String {
        String(decoding: try written(write), as: UTF8.self)
    }
}
