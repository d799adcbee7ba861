import Core

extension FleetService {
    // MARK: Loop-facing

    /// What the fleet wants for `uid` (a shared, pre-encoded remote config, if any).
    public func desiredState(for uid: InstanceUID) -> DesiredState {
        let entry = inventory.hot.entry(for: uid)
        return desired(entry?.config, entry?.settings ?? baseDesired.sharedConnectionSettings)
    }

    /// What the fleet wants for an agent's first message on a connection: a never-seen agent
    /// is matched by the description it is sending, so its first reply already carries its config.
    public func desiredState(for uid: InstanceUID, firstMessage: AgentToServerView) -> DesiredState {
        let entry = inventory.hot.entry(for: uid)
        let settings = entry?.settings ?? baseDesired.sharedConnectionSettings
        if let entry, !entry.reserved {
            return desired(entry.config, settings)
        }
        guard !inventory.assignments.isEmpty, let view = firstMessage.agentDescription else {
            return desired(nil, settings)
        }
        // Decoded outside any lock the loops take.
        let attributes = AgentState.attributes(of: view.owned()) + inventory.labels.selectorPairs(uid)
        let winner = Assignments.winner(
            in: inventory.assignments.all, attributes: attributes, uid: uid.description)
        return desired(winner?.config, settings)
    }

    private func desired(_ config: SharedRemoteConfig?, _ settings: SharedConnectionSettings?) -> DesiredState {
        var state = baseDesired
        state.remoteConfig = config
        state.sharedConnectionSettings = settings
        return state
    }

    /// What the fleet already holds for a (re)connecting agent.
    public func knownState(for uid: InstanceUID) -> SessionSeed? {
        let seed = inventory.hot.seed(for: uid)
        return seed.held.isEmpty ? nil : seed
    }

    /// True when the inventory holds `uid` (or has made room for it).
    public func isKnown(_ uid: InstanceUID) -> Bool {
        inventory.hot.contains(uid)
    }

    /// Makes room for a new agent; false when the inventory already holds `maxAgents`.
    public func register(_ uid: InstanceUID) -> Bool {
        inventory.hot.reserve(uid, now: options.clock(), limit: options.maxAgents)
    }

    /// Binds `uid` to the client certificate that first spoke for it; false when another
    /// certificate holds it (see `Identities`).
    public func bind(_ uid: InstanceUID, identity: String) -> Bool {
        if identities.bind(uid, identity: identity) { return true }
        // A certificate this server's CA issued to the agent replaces whatever it was bound to.
        guard certificates.isIssued(identity, to: uid) else { return false }
        identities.rebind(uid, identity: identity)
        return true
    }

    /// Removes `uid`'s binding (its certificate was replaced); false when it had none.
    public func unbindIdentity(_ uid: InstanceUID) throws(StoreError) -> Bool {
        guard try identities.unbind(uid) else { return false }
        forward(.identities, uids: [uid], to: "*")
        return true
    }

    /// The identity `uid` is bound to, if any.
    public func identity(of uid: InstanceUID) -> String? {
        identities.identity(of: uid)
    }

    /// A new enrollment token (shown once; only its hash is stored).
    public func createEnrollmentToken(uses: Int64?, expiresAfterMilliseconds: Int64?, labels: [String: String])
        throws(StoreError) -> String
    {
        let token = try enrollment.create(
            uses: uses, expiresAfterMilliseconds: expiresAfterMilliseconds, labels: labels)
        forward(.tokens, to: "*")
        return token
    }

    /// Every enrollment token, newest first.
    public func enrollmentTokens() -> [EnrollmentTokenInfo] {
        enrollment.list()
    }

    /// Revokes the enrollment token with this id (no new agent can enroll with it; agents it
    /// enrolled stay); false when there is none. Writes to the database: call it off an async
    /// executor.
    public func revokeEnrollmentToken(id: String) throws(StoreError) -> Bool {
        guard try enrollment.revoke(id: id) else { return false }
        forward(.tokens, to: "*")
        return true
    }

    /// Whether the token with this hash is known and not expired.
    public func enrollmentIsValid(tokenHash: String) -> Bool {
        enrollment.check(hash: tokenHash) == .valid
    }

    /// Spends one use of the token for a new agent; false when none is left.
    public func enroll(_ uid: InstanceUID, tokenHash: String) -> Bool {
        guard enrollment.enroll(hash: tokenHash) else { return false }
        audit.append(
            AuditEntry(
                at: options.clock(), actor: "enrollment:" + tokenHash.prefix(16), role: "", action: "agent.enroll",
                target: uid.description, outcome: "ok"))
        // Before the agent's first message is matched against selectors, which may name them.
        inventory.labels.add(enrollment.labels(hash: tokenHash), to: uid)
        return true
    }

    /// Queues a message's changes from event loop `loop` for the ingest thread.
    public func record(_ changes: StatusChanges, loop: Int = 0) {
        intake.record(changes, loop: loop)
    }

    /// Queues a liveness update from event loop `loop`.
    public func heartbeat(_ uid: InstanceUID, loop: Int = 0) {
        intake.heartbeat(uid, loop: loop)
    }
}
