import Core
import Synchronization

/// Which live WebSocket connection holds which uid, across loops (S11 duplicate detection).
/// Touched on a connection's first message and on close only, never per heartbeat.
package final class LiveAgents: Sendable {
    /// No uid held.
    package init() {}

    private let owners = Mutex<[InstanceUID: UInt64]>([:])

    /// Claims `uid` for `token`; false when another live connection holds it.
    package func claim(_ uid: InstanceUID, token: UInt64) -> Bool {
        owners.withLock { owners in
            if let owner = owners[uid], owner != token { return false }
            owners[uid] = token
            return true
        }
    }

    /// The token of the connection holding `uid` (its top 16 bits name the loop).
    package func owner(of uid: InstanceUID) -> UInt64? {
        owners.withLock { $0[uid] }
    }

    /// Every uid a live connection holds now.
    package func all() -> [InstanceUID] {
        owners.withLock { Array($0.keys) }
    }

    /// Releases `uid` if `token` holds it.
    package func release(_ uid: InstanceUID, token: UInt64) {
        owners.withLock { owners in
            if owners[uid] == token { owners[uid] = nil }
        }
    }
}
