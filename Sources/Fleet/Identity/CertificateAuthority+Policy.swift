import COpenSSL
import Core

extension CertificateAuthority {
    /// How far before its issue a certificate is valid from: an agent whose clock is a little
    /// behind can use it at once.
    public static let backdateSeconds: Int64 = 300

    /// Largest CSR read, far above any real one (a few hundred bytes to a few KiB).
    static let maximumRequestBytes = 64 << 10

    /// What OpenSSL read from a CSR, for `check(_:for:)` to judge.
    struct RequestFacts: Sendable {
        /// The request's signature verifies with the key it carries.
        var signatureMatches: Bool
        /// OpenSSL's key type (`EVP_PKEY_EC`, `EVP_PKEY_RSA`, …) and its size in bits.
        var keyKind: Int32
        var keyBits: Int32
        /// Instance uids the request names (subject common name, `urn:uuid:` SANs); `nil` when
        /// its subjectAltName extension appears more than once, so which one counts is unclear.
        var uidsNamed: [InstanceUID]?
    }

    /// Refuses a CSR too large to be real before OpenSSL parses it.
    static func check(size: Int) throws(AuthorityError) {
        guard size <= maximumRequestBytes else {
            throw AuthorityError("certificate_request.csr is larger than 64 KiB")
        }
    }

    /// The checks S17 in docs/PROTOCOL.md names: a signature that matches the request's key, a
    /// key of sane strength, and, when the request names an instance uid, that uid is `uid`.
    static func check(_ request: RequestFacts, for uid: InstanceUID) throws(AuthorityError) {
        guard request.signatureMatches else {
            throw AuthorityError("the certificate signing request's signature does not match its key")
        }
        switch request.keyKind {
        case EVP_PKEY_EC where request.keyBits >= 256, EVP_PKEY_RSA where request.keyBits >= 2048, EVP_PKEY_ED25519:
            break
        default:
            throw AuthorityError("the CSR's key is too weak or of an unknown kind (use ECDSA P-256 or RSA 2048+)")
        }
        guard let uidsNamed = request.uidsNamed else {
            throw AuthorityError("the CSR carries the subjectAltName extension more than once")
        }
        for named in uidsNamed where named != uid {
            throw AuthorityError("the CSR is for instance_uid \(named), not for this agent's \(uid)")
        }
    }

    /// Refuses a passphrase OpenSSL would cut short when reading the key back (it reads at most
    /// 1 023 bytes), which would lock the CA out of its own key.
    static func check(passphrase: String?) throws(AuthorityError) {
        guard (passphrase?.utf8.count ?? 0) < 1024 else {
            throw AuthorityError("the CA key passphrase is longer than 1023 bytes")
        }
    }

    static func uuid(_ text: String) -> InstanceUID? {
        text.utf8.count == 36 ? InstanceUID(string: text) : nil
    }
}
