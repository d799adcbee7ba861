import Core
import Foundation
import Synchronization

/// The client certificates this server's CA issued and the identities and agents it refuses:
/// consulted on loop threads (a CSR in an agent's message, a handshake, an identity check, a
/// connection's first message), written to the database off the loops, in order.
final class AgentCertificates: Sendable {
    private struct State {
        /// The newest certificate of each agent that has one and is not revoked.
        var latest: [InstanceUID: IssuedCertificate] = [:]
        /// Which agent each of those certificates (by identity) was issued to.
        var owners: [String: InstanceUID] = [:]
        /// Identities refused at the handshake.
        var revoked: Set<String> = []
        /// Agents refused whatever they present, until an operator readmits them.
        var revokedAgents: Set<InstanceUID> = []
        /// Revoked serials with when, for the revocation list.
        var revokedSerials: [(serial: String, at: Int64)] = []
        /// The revocation list as last signed (cleared by a revocation).
        var crl: String?
        /// The last CSR signed for each agent (a fingerprint of its bytes) and when.
        var requests: [InstanceUID: (fingerprint: UInt64, at: Int64)] = [:]
    }

    /// A CSR costs a signature on the loop that read it: an agent gets one new certificate per
    /// this many milliseconds, and the same CSR again is answered with the certificate it got.
    static let requestIntervalMilliseconds: Int64 = 10_000

    let authority: CertificateAuthority?
    private let lifetimeSeconds: Int64
    private let state: Mutex<State>
    /// Revoked identities and agents, read without the lock: most fleets revoke nothing.
    private let revokedCount = Atomic<Int>(0)
    private let store: any FleetStore
    private let writes = DispatchQueue(label: "fleet-certificates")
    private let log: @Sendable (String) -> Void
    private let clock: @Sendable () -> Int64
    /// Told the agents whose new certificates were written (other instances then read them).
    private let saved = Mutex<(@Sendable ([InstanceUID]) -> Void)?>(nil)

    init(
        authority: CertificateAuthority?, lifetimeSeconds: Int64, store: any FleetStore,
        log: @escaping @Sendable (String) -> Void, clock: @escaping @Sendable () -> Int64
    ) throws(StoreError) {
        self.authority = authority
        self.lifetimeSeconds = lifetimeSeconds
        self.store = store
        self.log = log
        self.clock = clock
        var initial = State()
        for row in try store.loadCertificates() {
            if let at = row.revokedAt {
                initial.revokedSerials.append((row.serial, at))
            } else {
                Self.take(row, into: &initial)
            }
        }
        initial.revoked = Set(try store.loadRevokedIdentities())
        initial.revokedAgents = Set(try store.loadRevokedAgents().compactMap(InstanceUID.init(string:)))
        revokedCount.store(initial.revoked.count + initial.revokedAgents.count, ordering: .relaxed)
        state = Mutex(initial)
    }

    /// Signs `uid`'s CSR; the refusal's words go to the agent (`BAD_REQUEST`).
    /// An agent that sends its CSR again (in every message, until the certificate arrives) gets
    /// the certificate already signed for it; a new CSR within `requestIntervalMilliseconds` of
    /// the last is refused, so that no agent can keep a loop signing.
    func issue(request csr: [UInt8], for uid: InstanceUID) throws(AuthorityError) -> IssuedCertificate {
        guard let authority else { throw AuthorityError("this server has no certificate authority (ampora ca init)") }
        guard !isRevoked(uid) else { throw AuthorityError(Self.revokedAgent) }
        let fingerprint = Fingerprint.of(csr)
        let now = clock()
        let earlier = try state.withLock { (s) throws(AuthorityError) -> IssuedCertificate? in
            guard let last = s.requests[uid] else { return nil }
            if last.fingerprint == fingerprint, let issued = s.latest[uid] { return issued }
            let wait = last.at + Self.requestIntervalMilliseconds - now
            guard wait <= 0 else {
                throw AuthorityError(
                    "a certificate was signed for this agent \((now - last.at) / 1000) s ago: send a new certificate_request in \((wait + 999) / 1000) s"
                )
            }
            return nil
        }
        if let earlier { return earlier }
        let issued = try authority.sign(request: csr, for: uid, lifetimeSeconds: lifetimeSeconds, now: now / 1000)
        state.withLock { $0.requests[uid] = (fingerprint, now) }
        record([issued])
        return issued
    }

    /// Certificates past two thirds of their lifetime, each signed again for the same key
    /// (the agent keeps its private key; the new certificate reaches it as an offer).
    func renewDue() -> [IssuedCertificate] {
        guard let authority else { return [] }
        let now = clock()
        let backdate = CertificateAuthority.backdateSeconds * 1000
        let due = state.withLock { s in
            s.latest.values.filter { certificate in
                guard !s.revokedAgents.contains(certificate.uid) else { return false }
                let issued = certificate.notBefore + backdate
                return now >= issued + (certificate.notAfter - issued) * 2 / 3
            }
        }
        var renewed: [IssuedCertificate] = []
        defer { record(renewed) }
        for old in due {
            do {
                let fresh = try authority.renew(
                    publicKey: old.publicKey, for: old.uid, lifetimeSeconds: lifetimeSeconds, now: now / 1000)
                renewed.append(fresh)
            } catch {
                log("fleet: the certificate of \(old.uid) (serial \(old.serial)) was not renewed: \(error)")
            }
        }
        return renewed
    }

    /// The newest certificate of `uid`, if it has one.
    func latest(for uid: InstanceUID) -> IssuedCertificate? {
        state.withLock { $0.latest[uid] }
    }

    /// Every agent with a certificate, and the certificate.
    var all: [IssuedCertificate] { state.withLock { Array($0.latest.values) } }

    /// True when `identity` is a certificate this CA issued to `uid` and has not revoked.
    func isIssued(_ identity: String, to uid: InstanceUID) -> Bool {
        state.withLock { $0.owners[identity] == uid }
    }

    /// True when `identity` was revoked.
    func isRevoked(_ identity: String) -> Bool {
        guard revokedCount.load(ordering: .relaxed) > 0 else { return false }
        return state.withLock { $0.revoked.contains(identity) }
    }

    /// True when `uid` was revoked and not readmitted.
    func isRevoked(_ uid: InstanceUID) -> Bool {
        guard revokedCount.load(ordering: .relaxed) > 0 else { return false }
        return state.withLock { $0.revokedAgents.contains(uid) }
    }

    /// What an agent that was revoked is told when it asks for a certificate.
    static let revokedAgent = "this agent was revoked: an operator must readmit it before it gets a certificate"

    /// Revokes `uid` itself, every certificate of it and `also` (the identity it is bound to),
    /// in the database first; returns how many identities are now refused that were not, and
    /// whether the uid was not refused already.
    func revoke(_ uid: InstanceUID, also: String?) throws(StoreError) -> (identities: Int, agent: Bool) {
        writes.sync {}
        let now = clock()
        let (identities, serials, known) = state.withLock { s in
            let mine = s.latest[uid].map { [$0] } ?? []
            var identities = mine.map(\.identity)
            if let also, !also.hasPrefix("token:"), !identities.contains(also) { identities.append(also) }
            return (
                identities.filter { !s.revoked.contains($0) }, mine.map(\.serial), s.revokedAgents.contains(uid)
            )
        }
        try store.revoke(uid: uid.description, identities: identities, at: now)
        state.withLock { s in
            if let mine = s.latest.removeValue(forKey: uid) { s.owners[mine.identity] = nil }
            s.revoked.formUnion(identities)
            s.revokedAgents.insert(uid)
            s.requests[uid] = nil
            s.revokedSerials.append(contentsOf: serials.map { ($0, now) })
            s.crl = nil
            revokedCount.store(s.revoked.count + s.revokedAgents.count, ordering: .relaxed)
        }
        return (identities.count, !known)
    }

    /// Accepts `uid` again, in the database first (its revoked certificates stay refused);
    /// false when it was not revoked.
    func readmit(_ uid: InstanceUID) throws(StoreError) -> Bool {
        writes.sync {}
        guard state.withLock({ $0.revokedAgents.contains(uid) }) else { return false }
        try store.readmit(uid: uid.description)
        state.withLock { s in
            s.revokedAgents.remove(uid)
            revokedCount.store(s.revoked.count + s.revokedAgents.count, ordering: .relaxed)
        }
        return true
    }

    /// Takes the identities, certificates and agents another instance revoked, and the agents it
    /// readmitted (a failed read keeps what is known): the revocation list and the renewals
    /// then follow the other instance's revocations too.
    func reloadRevoked() {
        guard let revoked = try? store.loadRevokedIdentities(), let agents = try? store.loadRevokedAgents(),
            let serials = try? store.loadRevokedSerials()
        else { return }
        state.withLock { s in
            s.revoked.formUnion(revoked)
            s.revokedAgents = Set(agents.compactMap(InstanceUID.init(string:)))
            s.revokedSerials = serials.map { (serial: $0.0, at: $0.1) }
            let gone = Set(serials.map { $0.0 })
            for (uid, latest) in s.latest where gone.contains(latest.serial) {
                s.latest[uid] = nil
                s.owners[latest.identity] = nil
            }
            s.crl = nil
            revokedCount.store(s.revoked.count + s.revokedAgents.count, ordering: .relaxed)
        }
    }

    /// The signed revocation list (PEM), made again after each revocation.
    func revocationList() throws(AuthorityError) -> String {
        guard let authority else { throw AuthorityError("this server has no certificate authority (ampora ca init)") }
        if let cached = state.withLock({ $0.crl }) { return cached }
        let serials = state.withLock { $0.revokedSerials }
        let crl = try authority.revocationList(serials, now: clock() / 1000)
        state.withLock { $0.crl = crl }
        return crl
    }

    /// Waits for the certificates queued so far to be written.
    func flush() {
        writes.sync {}
    }

    /// Calls `body` with the agents whose new certificates were written, after each write.
    func whenSaved(_ body: @escaping @Sendable ([InstanceUID]) -> Void) {
        saved.withLock { $0 = body }
    }

    /// Takes the certificates of `uids` another instance issued or renewed; returns the newest
    /// of each (a failed read keeps what is known).
    func reload(_ uids: [InstanceUID]) -> [IssuedCertificate] {
        guard let rows = try? store.loadCertificates(uids: uids.map(\.description)) else { return [] }
        return state.withLock { s in
            // Revocations arrive as actions of their own (`reloadRevoked`).
            for row in rows where row.revokedAt == nil { Self.take(row, into: &s) }
            return uids.compactMap { s.latest[$0] }
        }
    }

    /// One stored, unrevoked certificate into `s`; an older one than the agent's newest is
    /// skipped.
    private static func take(_ row: CertificateRow, into s: inout State) {
        guard let uid = InstanceUID(string: row.uid) else { return }
        let issued = IssuedCertificate(
            uid: uid, serial: row.serial, identity: row.identity, certificatePEM: row.certificate,
            publicKey: ConfigHash.bytes(hex: row.publicKey) ?? [], notBefore: row.notBefore, notAfter: row.notAfter)
        if let older = s.latest[uid], older.notBefore > issued.notBefore { return }
        if let older = s.latest[uid] { s.owners[older.identity] = nil }
        s.latest[uid] = issued
        s.owners[issued.identity] = uid
    }

    private func record(_ issued: [IssuedCertificate]) {
        guard !issued.isEmpty else { return }
        state.withLock { s in
            for one in issued {
                if let older = s.latest[one.uid] { s.owners[older.identity] = nil }
                s.latest[one.uid] = one
                s.owners[one.identity] = one.uid
            }
        }
        let rows = issued.map { one in
            CertificateRow(
                serial: one.serial, uid: one.uid.description, identity: one.identity,
                certificate: one.certificatePEM, publicKey: ConfigHash.hex(one.publicKey),
                notBefore: one.notBefore, notAfter: one.notAfter)
        }
        writes.async { [self] in
            var written: [InstanceUID] = []
            for row in rows {
                do {
                    try store.saveCertificate(row)
                    if let uid = InstanceUID(string: row.uid) { written.append(uid) }
                } catch {
                    log("fleet: the certificate issued to \(row.uid) (serial \(row.serial)) was not saved: \(error)")
                }
            }
            if !written.isEmpty { self.saved.withLock { $0 }?(written) }
        }
    }
}

extension ConnectionSettingsOffers {
    /// These offers with a client certificate (and the CA that signed it) in the OpAMP part,
    /// hashed again so agents see a change.
    func adding(_ issued: IssuedCertificate, authority: CertificateAuthority) -> ConnectionSettingsOffers {
        var offers = self
        var opamp = offers.opamp ?? OpAMPConnectionSettings()
        var certificate = TLSCertificate()
        certificate.cert = Array(issued.certificatePEM.utf8)
        certificate.caCert = Array(authority.certificatePEM.utf8)
        opamp.certificate = certificate
        offers.opamp = opamp
        offers.hash = []
        offers.hash = ConfigHash.sha256(offers.serializedBytes())
        return offers
    }
}
