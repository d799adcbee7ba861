import Core
import Synchronization

/// What the gateway needs from the fleet layer. Event loops call it on their own threads, so
/// implementations must be thread-safe and must never block (enqueue and return).
public protocol AgentDirectory: Sendable {
    /// What the fleet wants for this agent now.
    func desiredState(for uid: InstanceUID) -> DesiredState
    /// The same for the first message of a connection, which may describe an agent the fleet
    /// has never seen: its description can already decide what the first reply carries.
    func desiredState(for uid: InstanceUID, firstMessage: AgentToServerView) -> DesiredState
    /// What the server already holds for a (re)connecting agent, to seed its session.
    func knownState(for uid: InstanceUID) -> SessionSeed?
    /// Hands over what a message changed (persisted later, in batches, off the loop).
    func record(_ changes: StatusChanges)
    /// The same from event loop `loop`, so a directory can keep one queue per loop and no lock
    /// is shared by every loop's messages.
    func record(_ changes: StatusChanges, loop: Int)
    /// A message that changed nothing arrived from `uid` (last-seen only; must be cheap).
    func heartbeat(_ uid: InstanceUID)
    /// The same from event loop `loop`.
    func heartbeat(_ uid: InstanceUID, loop: Int)
    /// True when the fleet already holds `uid`: its message is a reconnection, not a registration.
    func isKnown(_ uid: InstanceUID) -> Bool
    /// Makes room for a new agent; false when the inventory is full (the agent is turned away).
    func register(_ uid: InstanceUID) -> Bool
    /// Binds `uid` to the identity its connection proved (a client certificate's fingerprint)
    /// the first time, and afterwards checks it: false when `uid` belongs to another identity.
    func bind(_ uid: InstanceUID, identity: String) -> Bool
    /// Whether the enrollment token with this hash (hex SHA-256) is known and not expired.
    func enrollmentIsValid(tokenHash: String) -> Bool
    /// Spends one use of the token for the new agent `uid`; false when none is left.
    func enroll(_ uid: InstanceUID, tokenHash: String) -> Bool
    /// Signs the CSR (PEM) `uid` sent, so that the agent's desired state offers the
    /// certificate; returns why it was refused (for a `BAD_REQUEST`), or nil.
    func certificateRequest(_ uid: InstanceUID, csr: [UInt8]) -> String?
    /// True when `identity` (a client certificate's fingerprint) was revoked.
    func isRevoked(identity: String) -> Bool
    /// True when the agent `uid` was revoked (refused whatever its connection presents).
    func isRevoked(uid: InstanceUID) -> Bool
    /// False while agents must go elsewhere (the fleet cannot record them): a first message
    /// gets `UNAVAILABLE` with a retry hint.
    func isAdmitting() -> Bool
}

extension AgentDirectory {
    /// Directories without selectors answer first messages like any other.
    public func desiredState(for uid: InstanceUID, firstMessage: AgentToServerView) -> DesiredState {
        desiredState(for: uid)
    }

    /// Directories without per-loop queues take every loop's changes alike.
    public func record(_ changes: StatusChanges, loop: Int) { record(changes) }

    /// Directories that do not track liveness ignore heartbeats.
    public func heartbeat(_ uid: InstanceUID) {}

    /// Directories without per-loop queues take every loop's heartbeats alike.
    public func heartbeat(_ uid: InstanceUID, loop: Int) { heartbeat(uid) }

    /// Directories without an inventory bound treat every agent as known.
    public func isKnown(_ uid: InstanceUID) -> Bool { true }

    /// Directories without an inventory bound take every agent.
    public func register(_ uid: InstanceUID) -> Bool { true }

    /// Directories that can always record agents admit every one.
    public func isAdmitting() -> Bool { true }

    /// Directories that keep no identities accept every binding.
    public func bind(_ uid: InstanceUID, identity: String) -> Bool { true }

    /// Directories without tokens know none.
    public func enrollmentIsValid(tokenHash: String) -> Bool { false }

    /// Directories without tokens have no uses to spend.
    public func enroll(_ uid: InstanceUID, tokenHash: String) -> Bool { false }

    /// Directories without a certificate authority sign nothing.
    public func certificateRequest(_ uid: InstanceUID, csr: [UInt8]) -> String? {
        "this server does not sign certificates"
    }

    /// Directories without a certificate authority revoke nothing.
    public func isRevoked(identity: String) -> Bool { false }

    /// Directories without revocation refuse no agent.
    public func isRevoked(uid: InstanceUID) -> Bool { false }
}

/// A directory without a fleet behind it (tests, demos): nothing desired unless set, which
/// parts each agent reported kept in memory.
public final class InMemoryAgentDirectory: AgentDirectory, Sendable {
    private let held = Mutex<[InstanceUID: StatusParts]>([:])
    private let desired = Mutex(DesiredState())
    private let identities = Mutex<[InstanceUID: String]>([:])

    /// An empty directory.
    public init() {}

    /// Sets what every agent should get (tests and demos).
    public func setDesired(_ state: DesiredState) {
        desired.withLock { $0 = state }
    }

    /// How many distinct agents have reported.
    public var agentCount: Int { held.withLock { $0.count } }

    /// Nothing desired unless set.
    public func desiredState(for uid: InstanceUID) -> DesiredState {
        desired.withLock { $0 }
    }

    /// The parts seen from this agent since the process started.
    public func knownState(for uid: InstanceUID) -> SessionSeed? {
        held.withLock { $0[uid].map { SessionSeed(held: $0) } }
    }

    /// Remembers which parts the agent has reported.
    public func record(_ changes: StatusChanges) {
        guard let uid = changes.instanceUID else { return }
        var parts: StatusParts = []
        if changes.agentDescription != nil { parts.insert(.description) }
        if changes.health != nil { parts.insert(.health) }
        if changes.effectiveConfig != nil { parts.insert(.effectiveConfig) }
        if changes.remoteConfigStatus != nil { parts.insert(.remoteConfigStatus) }
        if changes.packageStatuses != nil { parts.insert(.packageStatuses) }
        if changes.availableComponents != nil { parts.insert(.availableComponents) }
        if changes.connectionSettingsStatus != nil { parts.insert(.connectionSettingsStatus) }
        if changes.disconnected { return }
        held.withLock { $0[uid, default: []].formUnion(parts) }
    }

    /// The first identity seen for a uid is kept; another one is refused.
    public func bind(_ uid: InstanceUID, identity: String) -> Bool {
        identities.withLock { bound in
            if let existing = bound[uid] { return existing == identity }
            bound[uid] = identity
            return true
        }
    }
}
