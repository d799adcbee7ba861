import Core
import Foundation

/// The `fleet-peers` thread: follows what other instances write about their agents (their
/// batches' announcements on a LISTEN session of its own) into this instance's inventory, so
/// every instance lists and counts the whole fleet. See docs/ARCHITECTURE.md, "Several instances".
final class PeerFeed: Sendable {
    private let session: PostgresStore
    private let inventory: Inventory
    private let counters: FleetCounters
    private let events: FleetEvents
    private let instance: String
    private let clock: @Sendable () -> Int64
    private let log: @Sendable (String) -> Void
    /// When the catch-up reads run after a (re)subscription: at once, and once the peers have
    /// surely seen this instance and announce their batches.
    private let settleMilliseconds: Int64
    /// When the inventory was loaded: the first catch-up reads what peers wrote since.
    private let loadedAt: Int64
    /// The newest action before this instance loaded its state: later ones are carried out.
    private let actionsFrom: Int64

    init(
        session: PostgresStore, inventory: Inventory, counters: FleetCounters, events: FleetEvents,
        options: FleetOptions, loadedAt: Int64, actionsFrom: Int64
    ) {
        self.events = events
        self.loadedAt = loadedAt
        self.actionsFrom = actionsFrom
        self.session = session
        self.inventory = inventory
        self.counters = counters
        instance = options.instance
        clock = options.clock
        log = options.log
        settleMilliseconds = 3 * max(100, options.leaderLeaseMilliseconds / 5) + 1000
    }

    /// One announcement, `INSTANCE:FROM:TO`, as the revision range it names (nil for this
    /// instance's own or a malformed one).
    static func range(_ payload: String, ignoring own: String) -> ClosedRange<Int64>? {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let from = Int64(parts[parts.count - 2]), let to = Int64(parts[parts.count - 1]),
            from <= to
        else { return nil }
        let who = parts[0..<(parts.count - 2)].joined(separator: ":")
        return who == own ? nil : from...to
    }

    /// Announced revision ranges merged into few spans: ranges closer than `gap` join, up to
    /// `longest` revisions per span (a span may take in other batches' rows: reading a row
    /// twice changes nothing).
    static func spans(_ ranges: [ClosedRange<Int64>], gap: Int64 = 1024, longest: Int64 = 65_536)
        -> [ClosedRange<Int64>]
    {
        var out: [ClosedRange<Int64>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, range.lowerBound <= last.upperBound + gap,
                max(last.upperBound, range.upperBound) - last.lowerBound < longest
            {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                out.append(range)
            }
        }
        return out
    }

    /// An action notification, `TARGET:ID`: the action's id when it is for this instance (or
    /// for every instance, `*`).
    static func action(_ payload: String, for own: String) -> Int64? {
        guard let colon = payload.lastIndex(of: ":"), let id = Int64(payload[payload.index(after: colon)...]) else {
            return nil
        }
        let target = payload[..<colon]
        return target == own || target == "*" ? id : nil
    }

    /// Runs until `isStopping` is true, handing `act` the actions other instances send this one
    /// and `movedAway` the agents this instance held that a peer holds now.
    func run(isStopping: () -> Bool, act: (ClusterActionRow) -> Void, movedAway: ([InstanceUID]) -> Void) {
        var subscribed = false
        var catchUps: [Int64] = []
        // Rows written just before the load began may have committed after it read them.
        var since = loadedAt - 10_000
        var failing = false
        var cursor = ActionCursor(mark: actionsFrom)
        while !isStopping() {
            do throws(StoreError) {
                if !subscribed {
                    try session.listenForChanges()
                    subscribed = true
                    let now = clock()
                    catchUps = [now, now + settleMilliseconds]
                    if failing { log("cluster: following other instances' agents again") }
                    failing = false
                    // Actions posted while no LISTEN was there to hear them (before the first, or
                    // while the session was broken) would be lost: read them by id.
                    for action in try session.actions(after: cursor.catchUpFloor(), for: instance)
                    where cursor.take(action.id) {
                        act(action)
                    }
                }
                let now = clock()
                if let due = catchUps.first, due <= now {
                    catchUps.removeFirst()
                    movedAway(take(try session.agentsSeen(since: since, notOwnedBy: instance), gone: [], now: now))
                }
                let notes = try session.announcements(waitingUpTo: 200)
                let ranges = notes.filter { $0.channel == PostgresStore.changesChannel }.compactMap {
                    Self.range($0.payload, ignoring: instance)
                }
                // A burst of announcements is read in a few queries, not one each.
                for span in Self.spans(ranges) {
                    let changed = try session.changedAgents(from: span.lowerBound, to: span.upperBound)
                    movedAway(take(changed.rows, gone: changed.gone, now: clock()))
                }
                let ids = notes.filter { $0.channel == PostgresStore.actionsChannel }.compactMap {
                    Self.action($0.payload, for: instance)
                }
                var start = 0
                while start < ids.count {
                    let chunk = Array(ids[start..<min(ids.count, start + 1000)])
                    start += chunk.count
                    for action in try session.actions(ids: chunk)
                    where action.sender != instance && cursor.take(action.id) {
                        act(action)
                    }
                }
                since = now - 10_000
            } catch {
                if !failing { log("cluster: cannot follow other instances' agents: \(error.message)") }
                failing = true
                subscribed = false
                usleep(500_000)
            }
        }
    }

    private func take(_ rows: [AgentRow], gone: [String], now: Int64) -> [InstanceUID] {
        guard !rows.isEmpty || !gone.isEmpty else { return [] }
        let (moved, history) = inventory.absorb(rows, gone: gone, now: now)
        events.publish(history: history)
        let known = inventory.counts.known
        counters.update { $0.agentsKnown = known }
        return moved
    }
}
