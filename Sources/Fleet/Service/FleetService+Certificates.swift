import Core

// The CA's part of the fleet: CSRs from agents, renewal, revocation and the revocation list.
extension FleetService {
    /// Called with an agent whose connection must close now (its certificate was revoked).
    public var onDisconnect: (@Sendable (InstanceUID) -> Void)? {
        get { control.withLock { $0.disconnectHandler } }
        set { control.withLock { $0.disconnectHandler = newValue } }
    }

    /// True when this server signs agents' CSRs (`ampora ca init` ran and the key is loaded).
    public var acceptsCertificateRequests: Bool { certificates.authority != nil }

    /// Signs the CSR in `uid`'s message (on the loop: one ECDSA signature), and offers the
    /// certificate from now on; returns the refusal's words for the agent's `BAD_REQUEST`, or nil.
    public func certificateRequest(_ uid: InstanceUID, csr: [UInt8]) -> String? {
        do {
            let issued = try certificates.issue(request: csr, for: uid)
            offer(issued)
            options.log("fleet: issued certificate \(issued.serial) to \(uid), valid until \(issued.notAfter / 1000)")
            return nil
        } catch {
            return error.description
        }
    }

    /// True when `identity` (a client certificate) was revoked.
    public func isRevoked(_ identity: String) -> Bool {
        certificates.isRevoked(identity)
    }

    /// True when `uid` was revoked and not readmitted: its messages are refused whatever
    /// certificate or enrollment token its connection presents.
    public func isRevoked(_ uid: InstanceUID) -> Bool {
        certificates.isRevoked(uid)
    }

    /// Revokes `uid` (refused until readmitted), its certificates and the certificate it is
    /// bound to, closes its connection, and stops offering it a certificate; false when there
    /// was nothing to revoke (an agent this fleet has never seen, or one revoked already).
    public func revoke(_ uid: InstanceUID) throws(StoreError) -> Bool {
        let bound = try identities.stored(uid)
        guard
            inventory.hot.contains(uid) || bound != nil || certificates.latest(for: uid) != nil
                || certificates.isRevoked(uid)
        else { return false }
        let refused = try certificates.revoke(uid, also: bound)
        if inventory.hot.contains(uid) { inventory.hot.update(uid) { $0.settings = nil } }
        if let disconnect = control.withLock({ $0.disconnectHandler }) { disconnect(uid) }
        // Every other instance refuses the agent and the identities too, and the one holding
        // the agent closes it.
        forward(.revoke, uids: [uid], to: "*")
        return refused.identities > 0 || refused.agent
    }

    /// Accepts a revoked agent again: its uid is no longer refused and, when it was bound to a
    /// certificate that is now revoked, the binding is removed so that its next certificate
    /// (from a CSR, or another CA) can speak for it. Its revoked certificates stay refused.
    /// False when it was not revoked.
    public func readmit(_ uid: InstanceUID) throws(StoreError) -> Bool {
        guard try certificates.readmit(uid) else { return false }
        if let bound = try identities.stored(uid), certificates.isRevoked(bound), try identities.unbind(uid) {
            forward(.identities, uids: [uid], to: "*")
        }
        forward(.revoke, uids: [], to: "*")
        return true
    }

    /// The CA's certificate revocation list, PEM (nil without a CA).
    public func revocationList() throws(AuthorityError) -> String {
        try certificates.revocationList()
    }

    /// The CA certificate, PEM (nil without a CA).
    public var authorityCertificate: String? { certificates.authority?.certificatePEM }

    /// The newest certificate issued to `uid`, for the operator API.
    public func certificate(of uid: InstanceUID) -> IssuedCertificate? {
        certificates.latest(for: uid)
    }

    /// Renews the certificates past two thirds of their lifetime and offers them (the leader's
    /// work, on the fleet's housekeeping thread; here for tests). Other instances take them
    /// once they are written (`takeCertificates`).
    func renewCertificates() {
        let renewed = certificates.renewDue()
        guard !renewed.isEmpty else { return }
        options.log("fleet: renewed \(renewed.count) agent certificates")
        offerAndPush(renewed)
    }

    /// Takes the certificates another instance issued or renewed: they identify their agents
    /// here too, and the agents held here are offered them.
    func takeCertificates(_ uids: [InstanceUID]) {
        offerAndPush(certificates.reload(uids))
    }

    private func offerAndPush(_ issued: [IssuedCertificate]) {
        var pushed: [InstanceUID] = []
        for one in issued where inventory.hot.contains(one.uid) {
            offer(one)
            pushed.append(one.uid)
        }
        if !pushed.isEmpty, let push = onPush { push(pushed) }
    }

    /// Offers `issued` to its agent with the connection settings everyone gets.
    func offer(_ issued: IssuedCertificate) {
        guard let authority = certificates.authority else { return }
        let offers = (options.connectionSettings ?? ConnectionSettingsOffers()).adding(issued, authority: authority)
        let shared = SharedConnectionSettings(offers)
        inventory.hot.update(issued.uid) { $0.settings = shared }
    }
}
