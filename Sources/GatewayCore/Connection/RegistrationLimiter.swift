import Core
import Synchronization

/// Token buckets bounding how fast new agents may register, one per source address and one
/// per connection. Only a message from an agent the fleet has never seen takes a token, so
/// known agents reconnecting after an outage are never slowed, and a fan-in gateway that
/// multiplexes many agents over one connection registers them at `rate` after a `burst`.
package final class RegistrationLimiter: Sendable {
    package struct Bucket {
        var tokens: Double
        var at: UInt64
    }

    private struct State {
        var sources: [UInt64: Bucket] = [:]
        var connections: [UInt64: Bucket] = [:]
        var lastPrune: UInt64 = 0
    }

    /// Tokens added per second (0: unlimited).
    package let rate: Double
    /// Bucket size.
    package let burst: Double
    private let state = Mutex(State())

    package init(rate: Int, burst: Int) {
        self.rate = Double(max(0, rate))
        self.burst = Double(max(1, burst))
    }

    /// Takes a token from the source's and the connection's bucket; false (taking none) when
    /// either is empty. Only registrations come here, never heartbeats.
    package func admit(source: UInt64, connection: UInt64, now: UInt64) -> Bool {
        guard rate > 0 else { return true }
        return state.withLock { state in
            var s = refilled(state.sources[source], now)
            var c = refilled(state.connections[connection], now)
            guard s.tokens >= 1, c.tokens >= 1 else {
                state.sources[source] = s
                state.connections[connection] = c
                return false
            }
            s.tokens -= 1
            c.tokens -= 1
            state.sources[source] = s
            state.connections[connection] = c
            prune(&state, now)
            return true
        }
    }

    /// A closed connection's bucket is dropped.
    package func forget(connection: UInt64) {
        guard rate > 0 else { return }
        state.withLock { _ = $0.connections.removeValue(forKey: connection) }
    }

    /// Buckets tracked now (tests: memory stays bounded).
    package var trackedBuckets: Int { state.withLock { $0.sources.count + $0.connections.count } }

    private func refilled(_ bucket: Bucket?, _ now: UInt64) -> Bucket {
        guard var b = bucket else { return Bucket(tokens: burst, at: now) }
        let elapsed = Double(now &- b.at) / 1000
        b.tokens = min(burst, b.tokens + elapsed * rate)
        b.at = now
        return b
    }

    /// A full bucket says nothing the default does not: drop those once a minute, so the table
    /// holds only sources that registered within the last burst/rate seconds.
    private func prune(_ state: inout State, _ now: UInt64) {
        guard now &- state.lastPrune > 60_000 else { return }
        state.lastPrune = now
        state.sources = state.sources.filter { refilled($0.value, now).tokens < burst }
    }
}
