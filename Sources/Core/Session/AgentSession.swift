/// What a server already knows of an agent when one of its connections (or polls) begins.
public struct SessionSeed: Sendable, Equatable {
    /// Status parts the server holds.
    public var held: StatusParts
    /// The last sequence number seen, when known.
    public var lastSequenceNum: UInt64?
    /// `Fingerprint` of the config hash the agent last reported it runs (0: none).
    public var runningConfig: UInt64

    /// A seed; only `held` is required.
    public init(held: StatusParts, lastSequenceNum: UInt64? = nil, runningConfig: UInt64 = 0) {
        self.held = held
        self.lastSequenceNum = lastSequenceNum
        self.runningConfig = runningConfig
    }
}

/// The server side of one agent connection as a pure state machine: it takes decoded
/// `AgentToServer` messages and returns the `ServerToAgent` to send plus the status changes to
/// persist. No I/O, no clock, no allocation for a heartbeat; the gateway performs the results.
public struct AgentSession: Sendable {
    /// Capabilities this server advertises (undefined bits are masked off, S4).
    public let serverCapabilities: ServerCapabilities
    /// The agent's uid, once a valid one was seen.
    public private(set) var instanceUID: InstanceUID?
    /// The agent's latest capabilities (S9: the latest set is the one honoured).
    public private(set) var agentCapabilities: AgentCapabilities = []
    /// Status parts the server holds for this agent.
    public private(set) var held: StatusParts
    /// True once the agent sent `agent_disconnect`.
    public private(set) var isDisconnected = false
    /// The custom capabilities the agent announced (S22).
    public private(set) var agentCustomCapabilities: [String] = []

    private var lastSequenceNum: UInt64?
    private var sentFirstReply = false
    private var awaitingFullState = false
    private var seenFirstMessage = false
    /// The uid this server gave the agent on this connection (S10, S11), which it may switch to.
    public private(set) var assignedUID: InstanceUID?

    // Fingerprints of the last reported bytes of each status part (0: none seen).
    private var descriptionPrint: UInt64 = 0
    private var healthPrint: UInt64 = 0
    private var effectiveConfigPrint: UInt64 = 0
    private var remoteConfigStatusPrint: UInt64 = 0
    private var packageStatusesPrint: UInt64 = 0
    private var availableComponentsPrint: UInt64 = 0
    private var connectionSettingsStatusPrint: UInt64 = 0
    private var customCapabilitiesPrint: UInt64 = 0

    // What the agent last reported having, and what this connection already offered.
    private var agentConfigHash: UInt64 = 0
    private var agentSettingsHash: UInt64 = 0
    private var agentPackagesHash: UInt64 = 0
    private var offeredConfigHash: UInt64 = 0
    /// The config the agent last reported `FAILED` for: not resent while it stays the desired one.
    private var failedConfigHash: UInt64 = 0
    private var offeredSettingsHash: UInt64 = 0
    private var offeredPackagesHash: UInt64 = 0
    private var requestedComponentsFor: UInt64 = 0
    private var announcedCustomCapabilities: UInt64 = 0

    /// A new connection. `held` and `lastSequenceNum` come from the fleet when it already knows
    /// this agent (e.g. the same agent reconnecting to a server that did not restart).
    public init(
        serverCapabilities: ServerCapabilities = .ampora,
        held: StatusParts = [],
        lastSequenceNum: UInt64? = nil
    ) {
        self.serverCapabilities = serverCapabilities.intersection(.defined).union(.acceptsStatus)
        self.held = held
        self.lastSequenceNum = lastSequenceNum
    }

    /// Seeds what the fleet already holds for this agent; only before the first message counts.
    public mutating func restore(_ seed: SessionSeed) {
        guard !seenFirstMessage else { return }
        held = seed.held
        lastSequenceNum = seed.lastSequenceNum
        // A poll that lands on another server (HTTP behind a balancer) is a fresh session: the
        // config the agent said it runs must not be offered to it again.
        agentConfigHash = seed.runningConfig
    }

    /// Names the agent before its first message: an HTTP poll whose body has no uid names its
    /// session in the `OpAMP-Instance-UID` header (H3), also on a server that has not served it.
    public mutating func assume(_ uid: InstanceUID) {
        guard !seenFirstMessage, instanceUID == nil else { return }
        instanceUID = uid
    }

    /// True until the first message of the connection was processed.
    public var isFresh: Bool { !seenFirstMessage }

    /// Processes one message and returns the reply (S1: every message gets one) and changes.
    public mutating func receive(
        _ message: AgentToServerView,
        desired: DesiredState,
        uids: inout some InstanceUIDGenerator
    ) -> (reply: SessionReply, changes: StatusChanges) {
        var changes = StatusChanges()
        var reply = SessionReply()
        // One pass tells which fields exist; absent ones are then never searched for.
        let fields = message.presentFields
        let rawUID = message.instanceUid
        let flags = AgentToServerFlags(rawValue: message.flags)

        // S27: agent_disconnect was the agent's last word on this connection, whatever a later
        // message names (also none, with a request for a uid).
        if isDisconnected {
            return (badRequest(echo: rawUID.array, "agent_disconnect was already received on this connection"), changes)
        }
        // S10: a uid must be 16 bytes; the only exception is an agent asking for one.
        if let uid = InstanceUID(bytes: rawUID.span) {
            // S26: a connection speaks for one agent, or for the uid this server gave it.
            if let current = instanceUID, uid != current, uid != assignedUID {
                return (
                    badRequest(
                        echo: rawUID.array,
                        "this connection speaks for agent \(current); open one connection per agent (or use plain HTTP to multiplex agents)"
                    ), changes
                )
            }
            if instanceUID != uid { instanceUID = uid }
            reply.instanceUID = .valid(uid)
        } else if !(rawUID.isEmpty && flags.contains(.requestInstanceUid)) {
            return (badRequest(echo: rawUID.array, "instance_uid must be 16 bytes, got \(rawUID.count)"), changes)
        }
        changes.instanceUID = instanceUID

        if !seenFirstMessage {
            seenFirstMessage = true
            changes.connected = true
        }

        let caps = AgentCapabilities(rawValue: message.capabilities)
        if caps != agentCapabilities || changes.connected {
            agentCapabilities = caps
            changes.capabilities = caps
        }

        let present = fields & Self.statusFieldMask == 0 ? [] : applyStatus(message, fields, into: &changes)
        let required = StatusParts.required(by: caps)
        let askFullState: Bool
        switch trackSequence(message.sequenceNum) {
        case .inOrder, .repeated, .resync:
            askFullState = false
        case .gap:
            // S8 MUST, unless this very message already carries the full state.
            changes.sequenceGap = true
            askFullState = !present.isSuperset(of: required)
        case .firstSight:
            askFullState = !held.isSuperset(of: required)
        }
        if askFullState {
            reply.flags.insert(.reportFullState)
            awaitingFullState = true
        }

        if fields & (1 << 9) != 0, message.agentDisconnect != nil {
            isDisconnected = true
            changes.disconnected = true
        }
        if flags.contains(.requestInstanceUid) {
            let uid = uids.next()
            assignedUID = uid
            reply.newInstanceUID = uid
            changes.assignedInstanceUID = uid
        }
        if fields & (1 << 11) != 0, let request = message.connectionSettingsRequest,
            serverCapabilities.contains(.acceptsConnectionSettingsRequest)
        {
            changes.connectionSettingsRequest = request.owned()
        }
        if fields & (1 << 13) != 0, let custom = message.customMessage {
            // S22: only messages for capabilities this server announced are of interest.
            let capability = custom.capability
            if desired.customCapabilities.contains(where: { capability == $0 }) {
                changes.customMessage = custom.owned()
            }
        }
        if fields & (1 << 14) != 0, let components = message.availableComponents,
            caps.contains(.reportsAvailableComponents)
        {
            let hash = Fingerprint.of(components.hash.span)
            if components.components.isEmpty && !components.hash.isEmpty
                && !desired.knownComponentHashes.contains(hash) && requestedComponentsFor != hash
            {
                // S21: an unknown hash without the map: ask once for the full list.
                requestedComponentsFor = hash
                reply.flags.insert(.reportAvailableComponents)
            }
        }

        offer(desired, to: &reply, reported: present)
        finish(&reply)
        return (reply, changes)
    }

    /// The reply to bytes that did not decode (S5: `BAD_REQUEST`, not to be retried).
    public mutating func malformed(_ error: ProtoDecodeError) -> SessionReply {
        badRequest(echo: nil, "malformed AgentToServer: \(error.description)")
    }

    /// The reply when the server is overloaded (S6): `UNAVAILABLE`, optionally with a retry hint.
    public func overloaded(retryAfterNanoseconds: UInt64?) -> SessionReply {
        unavailable("server overloaded, retry later", uid: instanceUID, retryAfterNanoseconds: retryAfterNanoseconds)
    }

    /// A message refused before it was processed (a server limit): `BAD_REQUEST`, not retried (S5).
    public func refused(_ text: String, uid: InstanceUID?) -> SessionReply {
        var reply = SessionReply()
        if let uid = uid ?? instanceUID { reply.instanceUID = .valid(uid) }
        var error = ServerErrorResponse()
        error.type = .badRequest
        error.errorMessage = text
        reply.errorResponse = error
        return reply
    }

    /// `UNAVAILABLE` with a reason and an optional retry hint (S6), for an agent not processed now.
    public func unavailable(_ text: String, uid: InstanceUID?, retryAfterNanoseconds: UInt64?) -> SessionReply {
        var reply = SessionReply()
        if let uid = uid ?? instanceUID { reply.instanceUID = .valid(uid) }
        var error = ServerErrorResponse()
        error.type = .unavailable
        error.errorMessage = text
        if let ns = retryAfterNanoseconds {
            var retry = RetryInfo()
            retry.retryAfterNanoseconds = ns
            error.details = .retryInfo(retry)
        }
        reply.errorResponse = error
        return reply
    }

    /// An unsolicited push after the desired state changed (WebSocket only); nil when the
    /// agent already has everything, or has not spoken yet.
    public mutating func push(_ desired: DesiredState) -> SessionReply? {
        guard let uid = instanceUID, seenFirstMessage, !isDisconnected else { return nil }
        var reply = SessionReply()
        reply.instanceUID = .valid(uid)
        offer(desired, to: &reply, reported: [])
        guard
            reply.remoteConfig != nil || reply.connectionSettings != nil || reply.packages != nil
                || reply.customCapabilities != nil
        else { return nil }
        finish(&reply)
        return reply
    }

    /// Offers the desired state again, also what was offered before (an operator reconciling a
    /// drifted agent); nil when there is nothing to offer.
    public mutating func reoffer(_ desired: DesiredState) -> SessionReply? {
        offeredConfigHash = 0
        failedConfigHash = 0
        offeredSettingsHash = 0
        offeredPackagesHash = 0
        return push(desired)
    }

    /// Asks the agent to report its full state (the `ReportFullState` flag); nil before its
    /// first message.
    public mutating func requestFullState() -> SessionReply? {
        guard let uid = instanceUID, seenFirstMessage, !isDisconnected else { return nil }
        var reply = SessionReply()
        reply.instanceUID = .valid(uid)
        reply.flags.insert(.reportFullState)
        awaitingFullState = true
        finish(&reply)
        return reply
    }

    /// A restart command (S20), or nil when the agent does not accept one.
    public mutating func restart() -> SessionReply? {
        guard let uid = instanceUID, agentCapabilities.contains(.acceptsRestartCommand) else { return nil }
        var reply = SessionReply()
        reply.instanceUID = .valid(uid)
        reply.command = .restart
        finish(&reply)
        return reply
    }

    /// A custom message (S22), or nil when the agent did not announce its capability.
    public mutating func customMessage(_ message: CustomMessage) -> SessionReply? {
        guard let uid = instanceUID, agentCustomCapabilities.contains(message.capability) else { return nil }
        var reply = SessionReply()
        reply.instanceUID = .valid(uid)
        reply.customMessage = message
        finish(&reply)
        return reply
    }

    /// Gives this connection a new uid because another live connection holds the same one (S11).
    public mutating func reassignDuplicate(uids: inout some InstanceUIDGenerator) -> SessionReply? {
        guard let uid = instanceUID else { return nil }
        let fresh = uids.next()
        assignedUID = fresh
        var reply = SessionReply()
        reply.instanceUID = .valid(uid)
        reply.newInstanceUID = fresh
        finish(&reply)
        return reply
    }

    // MARK: - Rules

    private mutating func badRequest(echo: [UInt8]?, _ text: String) -> SessionReply {
        var reply = SessionReply()
        if let echo {
            reply.instanceUID = echo.isEmpty ? .none : .raw(echo)
        } else if let uid = instanceUID {
            reply.instanceUID = .valid(uid)
        }
        var error = ServerErrorResponse()
        error.type = .badRequest
        error.errorMessage = text
        reply.errorResponse = error
        return reply
    }

    /// S4: capabilities on the first (non-error) reply of the connection.
    private mutating func finish(_ reply: inout SessionReply) {
        if !sentFirstReply {
            sentFirstReply = true
            reply.capabilities = serverCapabilities
        }
    }

    /// S8 with no ping-pong: a repeated number is a retry, not a gap; after asking for full
    /// state the next message re-bases the sequence whatever its number; on the first message
    /// of a connection the server only asks when it lacks state.
    private mutating func trackSequence(_ seq: UInt64) -> SequenceStep {
        defer { lastSequenceNum = seq }
        if awaitingFullState {
            awaitingFullState = false
            return .resync
        }
        guard let last = lastSequenceNum else { return .firstSight }
        if seq == last { return .repeated }
        return seq == last &+ 1 ? .inOrder : .gap
    }

    private enum SequenceStep {
        case inOrder, repeated, gap, firstSight, resync
    }

    /// S7: fold present status parts into what the server holds; copy only changed ones.
    /// Field numbers of the status parts (3, 5, 6, 7, 8, 12, 14, 15).
    private static let statusFieldMask: UInt64 =
        1 << 3 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 12 | 1 << 14 | 1 << 15

    private mutating func applyStatus(
        _ m: AgentToServerView, _ fields: UInt64, into changes: inout StatusChanges
    ) -> StatusParts {
        var present: StatusParts = []
        if fields & (1 << 3) != 0, let d = m.agentDescription {
            present.insert(.description)
            if Self.changed(&descriptionPrint, d.span) { changes.agentDescription = d.owned() }
        }
        if fields & (1 << 5) != 0, let h = m.health {
            present.insert(.health)
            if Self.changed(&healthPrint, h.span) { changes.health = h.owned() }
        }
        if fields & (1 << 6) != 0, let e = m.effectiveConfig, agentCapabilities.contains(.reportsEffectiveConfig) {
            // S13: effective config is accepted only from agents that report it.
            present.insert(.effectiveConfig)
            if Self.changed(&effectiveConfigPrint, e.span) { changes.effectiveConfig = e.owned() }
        }
        if fields & (1 << 7) != 0, let r = m.remoteConfigStatus {
            present.insert(.remoteConfigStatus)
            agentConfigHash = r.lastRemoteConfigHash.isEmpty ? 0 : Fingerprint.of(r.lastRemoteConfigHash.span)
            if r.status == .failed {
                failedConfigHash = agentConfigHash
            } else if agentConfigHash == failedConfigHash {
                failedConfigHash = 0
            }
            if Self.changed(&remoteConfigStatusPrint, r.span) { changes.remoteConfigStatus = r.owned() }
        }
        if fields & (1 << 8) != 0, let p = m.packageStatuses {
            present.insert(.packageStatuses)
            let h = p.serverProvidedAllPackagesHash
            agentPackagesHash = h.isEmpty ? 0 : Fingerprint.of(h.span)
            if Self.changed(&packageStatusesPrint, p.span) { changes.packageStatuses = p.owned() }
        }
        if fields & (1 << 14) != 0, let a = m.availableComponents {
            present.insert(.availableComponents)
            if Self.changed(&availableComponentsPrint, a.span) { changes.availableComponents = a.owned() }
        }
        if fields & (1 << 15) != 0, let c = m.connectionSettingsStatus {
            present.insert(.connectionSettingsStatus)
            let h = c.lastConnectionSettingsHash
            agentSettingsHash = h.isEmpty ? 0 : Fingerprint.of(h.span)
            if Self.changed(&connectionSettingsStatusPrint, c.span) {
                changes.connectionSettingsStatus = c.owned()
            }
        }
        if fields & (1 << 12) != 0, let c = m.customCapabilities {
            present.insert(.customCapabilities)
            if Self.changed(&customCapabilitiesPrint, c.span) {
                let owned = c.owned()
                agentCustomCapabilities = owned.capabilities
                changes.customCapabilities = owned
            }
        }
        held.formUnion(present)
        return present
    }

    private static func changed(_ print: inout UInt64, _ bytes: RawSpan) -> Bool {
        let new = Fingerprint.of(bytes)
        if new == print { return false }
        print = new
        return true
    }

    /// S9, S12, S15, S19, S22: offer what differs from what the agent has, gated by capabilities.
    private mutating func offer(_ desired: DesiredState, to reply: inout SessionReply, reported: StatusParts) {
        let caps = agentCapabilities
        if let config = desired.remoteConfig, caps.contains(.acceptsRemoteConfig),
            serverCapabilities.contains(.offersRemoteConfig)
        {
            let target = config.hashFingerprint
            if target != failedConfigHash { failedConfigHash = 0 }
            // MUST resend when the agent reports a different hash; otherwise once per change.
            // Not the config it failed, which it went back from (the Supervisor's rollback): the
            // fleet then offers what it went back to, and until that reaches this connection a
            // resend would only fail again.
            let reportedNow = reported.contains(.remoteConfigStatus)
            if agentConfigHash != target && target != failedConfigHash && (reportedNow || offeredConfigHash != target) {
                reply.remoteConfig = config
                offeredConfigHash = target
            }
        }
        if let settings = desired.sharedConnectionSettings, serverCapabilities.contains(.offersConnectionSettings) {
            let target = settings.hashFingerprint
            let reportedNow = reported.contains(.connectionSettingsStatus)
            if agentSettingsHash != target && (reportedNow || offeredSettingsHash != target),
                let filtered = Self.filter(settings.offers, for: caps)
            {
                reply.connectionSettings = filtered
                offeredSettingsHash = target
            }
        }
        if let packages = desired.packages, caps.contains(.acceptsPackages),
            serverCapabilities.contains(.offersPackages)
        {
            let target = packages.hashFingerprint
            let reportedNow = reported.contains(.packageStatuses)
            if agentPackagesHash != target && (reportedNow || offeredPackagesHash != target) {
                reply.packages = packages
                offeredPackagesHash = target
            }
        }
        if !desired.customCapabilities.isEmpty {
            let print = desired.customCapabilitiesFingerprint
            if print != announcedCustomCapabilities {
                announcedCustomCapabilities = print
                reply.customCapabilities = desired.customCapabilities
            }
        }
    }

    /// Keeps only the offers the agent's capabilities allow; nil when nothing is left.
    static func filter(_ offers: ConnectionSettingsOffers, for caps: AgentCapabilities) -> ConnectionSettingsOffers? {
        var out = ConnectionSettingsOffers()
        out.hash = offers.hash
        if caps.contains(.acceptsOpAMPConnectionSettings), var opamp = offers.opamp {
            if !caps.contains(.reportsHeartbeat) { opamp.heartbeatIntervalSeconds = 0 }
            out.opamp = opamp
        }
        if caps.contains(.reportsOwnMetrics) { out.ownMetrics = offers.ownMetrics }
        if caps.contains(.reportsOwnTraces) { out.ownTraces = offers.ownTraces }
        if caps.contains(.reportsOwnLogs) { out.ownLogs = offers.ownLogs }
        if caps.contains(.acceptsOtherConnectionSettings) { out.otherConnections = offers.otherConnections }
        if out.opamp == nil && out.ownMetrics == nil && out.ownTraces == nil && out.ownLogs == nil
            && out.otherConnections.isEmpty
        {
            return nil
        }
        return out
    }
}
