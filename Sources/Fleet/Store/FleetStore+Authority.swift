/// The stored certificate authority (one per database).
public struct AuthorityRow: Sendable, Equatable {
    /// The CA certificate, PEM.
    public var certificate: String
    /// The CA key (PKCS #8 PEM), when kept in the database.
    public var privateKey: String?
    /// True when `privateKey` is encrypted with a passphrase.
    public var keyEncrypted: Bool
    /// Where the key is, when it is kept in a file instead.
    public var keyFile: String?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    /// A CA row.
    public init(certificate: String, privateKey: String?, keyEncrypted: Bool, keyFile: String?, createdAt: Int64) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.keyEncrypted = keyEncrypted
        self.keyFile = keyFile
        self.createdAt = createdAt
    }
}

/// A client certificate the CA issued, as stored.
struct CertificateRow: Sendable, Equatable {
    var serial: String
    var uid: String
    var identity: String
    var certificate: String
    /// Hex DER of the subject's public key.
    var publicKey: String
    var notBefore: Int64
    var notAfter: Int64
    var revokedAt: Int64?
}

// The CA's tables and the agents' labels: a handful of rows per agent at most, written when
// an operator acts or a certificate is issued, so plain SQL through `execute`/`select`.
extension FleetStore {
    /// The CA, if `ampora ca init` has run on this database.
    public func loadAuthority() throws(StoreError) -> AuthorityRow? {
        let found = try select(
            "SELECT certificate, private_key, key_encrypted, key_file, created_at FROM certificate_authority WHERE id = 1",
            [])
        guard let r = found.first else { return nil }
        return AuthorityRow(
            certificate: r[0] ?? "", privateKey: r[1], keyEncrypted: r[2] == "1", keyFile: r[3],
            createdAt: Int64(r[4] ?? "") ?? 0)
    }

    /// Stores the CA, replacing any earlier one (the caller asked for `--force`).
    public func saveAuthority(_ row: AuthorityRow) throws(StoreError) {
        try execute([
            ("DELETE FROM certificate_authority", []),
            (
                "INSERT INTO certificate_authority (id, certificate, private_key, key_encrypted, key_file, created_at) VALUES (1, $1, $2, $3, $4, $5)",
                [row.certificate, row.privateKey, row.keyEncrypted ? "1" : "0", row.keyFile, String(row.createdAt)]
            ),
        ])
    }

    func saveCertificate(_ row: CertificateRow) throws(StoreError) {
        try execute([
            (
                "INSERT INTO agent_certificates (serial, uid, identity, certificate, public_key, not_before, not_after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    row.serial, row.uid, row.identity, row.certificate, row.publicKey, String(row.notBefore),
                    String(row.notAfter),
                ]
            )
        ])
    }

    func loadCertificates() throws(StoreError) -> [CertificateRow] {
        try select(
            "SELECT serial, uid, identity, certificate, public_key, not_before, not_after, revoked_at FROM agent_certificates ORDER BY not_before",
            []
        ).map(Self.certificateRow)
    }

    /// The certificates of `uids`, oldest first (what another instance issued or renewed).
    func loadCertificates(uids: [String]) throws(StoreError) -> [CertificateRow] {
        guard !uids.isEmpty else { return [] }
        let marks = (1...uids.count).map { "$\($0)" }.joined(separator: ", ")
        return try select(
            "SELECT serial, uid, identity, certificate, public_key, not_before, not_after, revoked_at FROM agent_certificates WHERE uid IN (\(marks)) ORDER BY not_before",
            uids
        ).map(Self.certificateRow)
    }

    private static func certificateRow(_ r: [String?]) -> CertificateRow {
        CertificateRow(
            serial: r[0] ?? "", uid: r[1] ?? "", identity: r[2] ?? "", certificate: r[3] ?? "",
            publicKey: r[4] ?? "", notBefore: Int64(r[5] ?? "") ?? 0, notAfter: Int64(r[6] ?? "") ?? 0,
            revokedAt: r[7].flatMap { Int64($0) })
    }

    /// Marks every certificate of `uid` revoked, refuses `identities` from now on, and refuses
    /// the uid itself until an operator readmits it.
    func revoke(uid: String, identities: [String], at: Int64) throws(StoreError) {
        var statements: [(sql: String, params: [String?])] = [
            ("UPDATE agent_certificates SET revoked_at = $1 WHERE uid = $2 AND revoked_at IS NULL", [String(at), uid]),
            (
                "INSERT INTO revoked_agents (uid, revoked_at) VALUES ($1, $2) ON CONFLICT (uid) DO NOTHING",
                [uid, String(at)]
            ),
        ]
        for identity in identities {
            statements.append(
                (
                    "INSERT INTO revoked_identities (identity, uid, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (identity) DO NOTHING",
                    [identity, uid, String(at)]
                ))
        }
        try execute(statements)
    }

    /// Takes one use of a limited enrollment token, in one statement so that instances sharing
    /// the database never count the same use twice; the uses left after, or nil when none was
    /// left (or the token is gone).
    func spendTokenUse(hash: String) throws(StoreError) -> Int64? {
        let left = try select(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE hash = $1 AND uses_left > 0 RETURNING uses_left",
            [hash])
        return left.first?[0].flatMap { Int64($0) }
    }

    /// One more than the highest assignment sequence stored.
    func nextAssignmentSequence() throws(StoreError) -> Int64 {
        Int64(try select("SELECT COALESCE(MAX(seq), 0) + 1 FROM assignments", []).first?[0] ?? "") ?? 1
    }

    /// The identity `uid` is bound to, if any.
    func loadIdentity(uid: String) throws(StoreError) -> String? {
        try select("SELECT identity FROM agent_identities WHERE uid = $1", [uid]).first?[0] ?? nil
    }

    /// Serials of the revoked certificates with when they were revoked, for the revocation list.
    func loadRevokedSerials() throws(StoreError) -> [(String, Int64)] {
        try select(
            "SELECT serial, revoked_at FROM agent_certificates WHERE revoked_at IS NOT NULL ORDER BY not_before", []
        ).compactMap { r in
            guard let serial = r[0], let at = r[1].flatMap({ Int64($0) }) else { return nil }
            return (serial, at)
        }
    }

    func loadRevokedIdentities() throws(StoreError) -> [String] {
        try select("SELECT identity FROM revoked_identities", []).compactMap { $0[0] }
    }

    /// The uids refused until readmitted.
    func loadRevokedAgents() throws(StoreError) -> [String] {
        try select("SELECT uid FROM revoked_agents", []).compactMap { $0[0] }
    }

    /// Accepts `uid` again (its revoked certificates stay revoked).
    func readmit(uid: String) throws(StoreError) {
        try execute([("DELETE FROM revoked_agents WHERE uid = $1", [uid])])
    }

    /// Binds `uid` to `identity`, replacing its binding (a certificate this server issued to it).
    func rebindIdentity(_ row: IdentityRow) throws(StoreError) {
        try execute([
            (
                "INSERT INTO agent_identities (uid, identity, bound_at) VALUES ($1, $2, $3) ON CONFLICT (uid) DO UPDATE SET identity = excluded.identity, bound_at = excluded.bound_at",
                [row.uid, row.identity, String(row.boundAt)]
            )
        ])
    }

    func saveLabels(uid: String, labels: [String: String]) throws(StoreError) {
        try execute([
            (
                "INSERT INTO agent_labels (uid, labels) VALUES ($1, $2) ON CONFLICT (uid) DO UPDATE SET labels = excluded.labels",
                [uid, StoreJSON.encode(labels)]
            )
        ])
    }

    /// The labels of `uids` (a thousand per query).
    func loadLabels(uids: [String]) throws(StoreError) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var start = 0
        while start < uids.count {
            let chunk = Array(uids[start..<min(uids.count, start + 1000)])
            start += chunk.count
            let marks = (1...chunk.count).map { "$\($0)" }.joined(separator: ", ")
            for r in try select("SELECT uid, labels FROM agent_labels WHERE uid IN (\(marks))", chunk) {
                if let uid = r[0] { out[uid] = StoreJSON.decodeMap(r[1] ?? "{}") }
            }
        }
        return out
    }

    func loadLabels() throws(StoreError) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for r in try select("SELECT uid, labels FROM agent_labels", []) {
            if let uid = r[0] { out[uid] = StoreJSON.decodeMap(r[1] ?? "{}") }
        }
        return out
    }
}
