import Core
import Synchronization

/// Plain-HTTP agents' sessions, touched once per poll under a lock (polls are seconds apart;
/// this is not the WebSocket hot path).
package final class HTTPSessionStore: Sendable {
    /// No session held.
    package init() {}

    private let sessions = Mutex<[InstanceUID: (session: AgentSession, lastSeen: UInt64)]>([:])
    /// Operators' commands waiting for the agent's next poll.
    private let commands = Mutex<[InstanceUID: [AgentCommand]]>([:])
    /// Commands one agent may have waiting; more are refused until it polls.
    package static let maxQueuedCommands = 16

    /// Queues `command` for the next poll of agent `uid`; false when no plain-HTTP session of
    /// it is held or its queue is full.
    package func queue(_ command: AgentCommand, for uid: InstanceUID) -> Bool {
        guard sessions.withLock({ $0.index(forKey: uid) != nil }) else { return false }
        return commands.withLock { queued in
            guard queued[uid, default: []].count < Self.maxQueuedCommands else { return false }
            queued[uid, default: []].append(command)
            return true
        }
    }

    /// The commands waiting for agent `uid`, taken out.
    package func takeCommands(_ uid: InstanceUID) -> [AgentCommand] {
        commands.withLock { $0.isEmpty ? [] : $0.removeValue(forKey: uid) ?? [] }
    }

    /// Puts back commands a poll could not carry, ahead of any queued since.
    package func requeue(_ left: [AgentCommand], for uid: InstanceUID) {
        guard !left.isEmpty else { return }
        commands.withLock { $0[uid] = left + ($0[uid] ?? []) }
    }

    /// Takes the agent's session out (the caller puts it back), so two loops never share one.
    package func take(_ uid: InstanceUID) -> AgentSession? {
        sessions.withLock { $0.removeValue(forKey: uid)?.session }
    }

    package func put(_ uid: InstanceUID, _ session: AgentSession, now: UInt64) {
        sessions.withLock { $0[uid] = (session, now) }
    }

    /// Forgets sessions not polled within `limit` and returns their uids (still connected
    /// ones, which the fleet must now mark disconnected).
    package func expire(olderThan limit: UInt64, now: UInt64) -> [InstanceUID] {
        let expired = sessions.withLock { sessions in
            var expired: [InstanceUID] = []
            sessions = sessions.filter { entry in
                if now &- entry.value.lastSeen < limit { return true }
                expired.append(entry.key)
                return false
            }
            return expired
        }
        if !expired.isEmpty {
            commands.withLock { queued in for uid in expired { queued[uid] = nil } }
        }
        return expired
    }

    /// Drops the sessions of agents another instance holds now, without a disconnect: their
    /// next poll here starts a new session (a kept one would see their sequence numbers jump
    /// by the polls answered elsewhere, and ask for a full report each time).
    package func forget(_ uids: [InstanceUID]) {
        sessions.withLock { sessions in for uid in uids { sessions[uid] = nil } }
        commands.withLock { queued in for uid in uids { queued[uid] = nil } }
    }

    /// Sessions held now.
    package var count: Int { sessions.withLock { $0.count } }
}
