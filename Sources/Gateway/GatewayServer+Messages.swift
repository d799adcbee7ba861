import Core
import GatewayCore
import Synchronization

/// Messages to the loops: pushes, disconnects, releases and commands for the agents they hold.
extension GatewayServer {
    /// Offers the agent `uid` what the directory now wants for it, if it is connected over
    /// WebSocket (plain-HTTP agents get it in their next poll). Returns false when none of this
    /// server's loops holds it (it may be on the companion's).
    @discardableResult
    public func push(_ uid: InstanceUID) -> Bool {
        post(to: uid) { .push(uid, slot: $0) }
    }

    /// Closes the WebSocket connection of agent `uid` (1008) if one of this server's loops
    /// holds it; false otherwise.
    @discardableResult
    public func disconnect(_ uid: InstanceUID) -> Bool {
        post(to: uid) { .disconnect(uid, slot: $0) }
    }

    /// Forgets the plain-HTTP sessions of agents another instance holds now.
    public func forgetHTTPSessions(_ uids: [InstanceUID]) {
        httpSessions.forget(uids)
    }

    /// Closes every WebSocket agent this server's loops hold with 1001, so each reconnects
    /// (through the balancer) to an instance that can record it; returns how many were asked.
    @discardableResult
    public func releaseAll() -> Int {
        live.all().reduce(0) { n, uid in n + (post(to: uid) { .release(uid, slot: $0) } ? 1 : 0) }
    }

    /// Sends an operator's command to agent `uid` if one of this server's loops holds its
    /// WebSocket connection, or queues it for the next poll of a plain-HTTP agent (which has no
    /// connection to close: `disconnect` is not queued); false otherwise.
    @discardableResult
    public func command(_ command: AgentCommand, to uid: InstanceUID) -> Bool {
        if post(to: uid, { .command(uid, command, slot: $0) }) { return true }
        return command != .disconnect && httpSessions.queue(command, for: uid)
    }

    /// Posts a message to the loop holding `uid`, built for the connection's slot.
    private func post(to uid: InstanceUID, _ message: (UInt32) -> LoopMessage) -> Bool {
        guard let token = live.owner(of: uid) else { return false }
        let loop = ConnectionToken.loop(token) - loopBase
        guard loop >= 0 else { return false }
        let message = message(ConnectionToken.slot(token))
        let (epoll, rings) = state.withLock { ($0.epollLoops, $0.rings) }
        if loop < rings.count, let ring = rings[loop] {
            ring.mailbox.post(message)
            return true
        }
        if loop < epoll.count {
            epoll[loop].mailbox.post(message)
            return true
        }
        return false
    }

    /// Offers each of `uids` what the directory now wants for it: one message (and one wake)
    /// per loop, however many agents. Agents none of this server's loops holds are skipped.
    public func push(_ uids: [InstanceUID]) {
        var byLoop: [Int: [(uid: InstanceUID, slot: UInt32)]] = [:]
        for uid in uids {
            guard let token = live.owner(of: uid) else { continue }
            let loop = ConnectionToken.loop(token) - loopBase
            guard loop >= 0 else { continue }
            byLoop[loop, default: []].append((uid, ConnectionToken.slot(token)))
        }
        let (epoll, rings) = state.withLock { ($0.epollLoops, $0.rings) }
        for (loop, targets) in byLoop {
            if loop < rings.count, let ring = rings[loop] {
                ring.mailbox.post(.pushSome(targets))
            } else if loop < epoll.count {
                epoll[loop].mailbox.post(.pushSome(targets))
            }
        }
    }

    /// Offers every connected WebSocket agent what the directory now wants for it.
    public func pushAll() {
        for loop in state.withLock({ $0.epollLoops + $0.rings.compactMap { $0 } }) { loop.mailbox.post(.pushAll) }
    }

    /// Counters summed over the loops (read without stopping them; values may be a tick old).
    public var counters: GatewayCounters {
        var total = GatewayCounters()
        for loop in state.withLock({ $0.epollLoops + $0.rings.compactMap { $0 } }) { total.add(loop.published.value) }
        return total
    }
}
