import Core
import Synchronization

/// Plain-HTTP agents' sessions, touched once per poll under a lock (polls are seconds apart;
/// this is not the WebSocket hot path).
package final class HTTPSessionStore: Sendable {
    /// No session held.
    package init() {}

    private let sessions = Mutex<[InstanceUID: (session: AgentSession, lastSeen: UInt64)]>([:])

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
        sessions.withLock { sessions in
            var expired: [InstanceUID] = []
            sessions = sessions.filter { entry in
                if now &- entry.value.lastSeen < limit { return true }
                expired.append(entry.key)
                return false
            }
            return expired
        }
    }

    /// Sessions held now.
    package var count: Int { sessions.withLock { $0.count } }
}
