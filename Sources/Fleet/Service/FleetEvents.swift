import Foundation
import Synchronization

/// What happened, as the event stream names it.
public enum FleetEventKind: String, Sendable, CaseIterable {
    /// An agent connected (or reconnected).
    case agentConnected = "agent.connected"
    /// An agent's connection ended.
    case agentDisconnected = "agent.disconnected"
    /// An agent turned healthy or unhealthy.
    case agentHealth = "agent.health"
    /// An agent reported a config status or an effective config, rolled back or drifted.
    case agentConfig = "agent.config"
    /// An agent sent a custom message (for a capability this server announced).
    case agentCustomMessage = "agent.custom-message"
    /// A rollout moved: its state, stage or counts.
    case rolloutProgress = "rollout.progress"
}

/// One event of the live stream.
public struct FleetEvent: Sendable {
    /// Its place in the stream: later events have larger ids, also across restarts.
    public var id: Int64
    /// Milliseconds since the Unix epoch.
    public var at: Int64
    /// What happened.
    public var kind: FleetEventKind
    /// The agent it is about, for agent events (canonical UUID text).
    public var agent: String?
    /// The rollout, for rollout events (with its counts at that moment).
    public var rollout: Rollout? {
        get { boxed?.rollout }
        set { boxed = newValue.map(RolloutBox.init) }
    }
    /// The inventory's history detail, for agent events.
    public var detail: String
    /// A rollout is a few hundred bytes and agent events are the many: kept out of line, so a
    /// slot of the stream's ring stays small.
    private var boxed: RolloutBox?

    private final class RolloutBox: Sendable {
        let rollout: Rollout
        init(_ rollout: Rollout) { self.rollout = rollout }
    }

    /// An event (ids are given by the stream; 0 for one that is not part of it).
    public init(
        id: Int64, at: Int64, kind: FleetEventKind, agent: String? = nil, rollout: Rollout? = nil, detail: String = ""
    ) {
        self.id = id
        self.at = at
        self.kind = kind
        self.agent = agent
        self.boxed = rollout.map(RolloutBox.init)
        self.detail = detail
    }
}

/// The recent past of the event stream: a ring of the last `capacity` events, which every
/// subscriber reads from its own cursor. A subscriber that falls further behind than the ring
/// learns how many events it lost; nobody waits for a slow reader, and publishing is one append
/// under a lock (done by the ingest thread for a whole batch, by the rollout controller for a
/// rollout that moved).
public final class FleetEvents: Sendable {
    private struct Slot {
        var event: FleetEvent
        /// The event as a subscriber receives it, made by the first reader that wanted it and
        /// shared by the others (encoding is the stream's main cost with many subscribers).
        var frame: [UInt8]?
    }

    private struct State {
        /// Event `id` is at `(id - firstID) % capacity`. Filled in that order, so the ring holds
        /// only what was published until it wraps: memory follows the events, not `capacity`.
        var ring: [Slot]
        /// The id the next event gets.
        var next: Int64
        let firstID: Int64
        let capacity: Int

        func index(_ id: Int64) -> Int { Int((id - firstID) % Int64(capacity)) }
    }

    /// Events kept for subscribers that fall behind or resume.
    public let capacity: Int
    /// The first id of this process: ids continue upward across restarts (the start time in
    /// milliseconds, times a million), so an id from an earlier run is simply old.
    public let firstID: Int64
    private let state: Mutex<State>

    /// An empty stream; the first event gets an id derived from `startedAt` (milliseconds).
    public init(capacity: Int = 524_288, startedAt: Int64) {
        self.capacity = capacity
        firstID = startedAt * 1_000_000
        state = Mutex(State(ring: [], next: firstID, firstID: firstID, capacity: capacity))
    }

    /// Events held now: up to `capacity`, as many as were published until then.
    var held: Int { state.withLock { $0.ring.count } }

    /// The id of the latest event (the one before `firstID` when there is none).
    public var latest: Int64 { state.withLock { $0.next - 1 } }

    func publish(_ kind: FleetEventKind, at: Int64, agent: String? = nil, rollout: Rollout? = nil, detail: String = "")
    {
        state.withLock { s in
            Self.append(&s, kind, at: at, agent: agent, rollout: rollout, detail: detail)
        }
    }

    /// The agent events among a batch of history rows.
    func publish(history: [HistoryRow]) {
        guard !history.isEmpty else { return }
        state.withLock { s in
            for row in history {
                guard let kind = Self.kind(ofHistory: row.kind) else { continue }
                Self.append(&s, kind, at: row.at, agent: row.uid, rollout: nil, detail: row.detail)
            }
        }
    }

    /// The events after `cursor` that `matching` accepts, looking at up to `limit` events; the
    /// cursor to read on from; and how many events between the cursor and the oldest one kept
    /// were lost: 0 unless the reader fell behind the ring or resumes from an id it no longer
    /// holds, -1 when the cursor is from an earlier run of the server (how many were lost is
    /// unknown). Only accepted events are copied out, so a subscriber with a narrow filter
    /// costs little however busy the stream is.
    public func read(
        after cursor: Int64, limit: Int = 1024, matching: (FleetEvent) -> Bool = { _ in true }
    ) -> (events: [(event: FleetEvent, frame: [UInt8]?)], next: Int64, lost: Int64) {
        state.withLock { s in
            let oldest = max(firstID, s.next - Int64(capacity))
            var from = cursor + 1
            var lost: Int64 = 0
            if from < oldest {
                lost = cursor >= firstID - 1 ? oldest - from : -1
                from = oldest
            }
            let end = min(s.next, from + Int64(limit))
            guard from < end else { return ([], max(cursor, from - 1), lost) }
            var out: [(event: FleetEvent, frame: [UInt8]?)] = []
            for id in from..<end {
                let slot = s.ring[s.index(id)]
                if matching(slot.event) { out.append((slot.event, slot.frame)) }
            }
            return (out, end - 1, lost)
        }
    }

    /// Keeps `frame` as the encoding of event `id`, for the next readers (unless the ring has
    /// moved past it).
    public func remember(frame: [UInt8], for id: Int64) {
        state.withLock { s in
            guard id >= s.firstID && id < s.next else { return }
            let index = s.index(id)
            if s.ring[index].event.id == id { s.ring[index].frame = frame }
        }
    }

    private static func append(
        _ s: inout State, _ kind: FleetEventKind, at: Int64, agent: String?, rollout: Rollout?,
        detail: String
    ) {
        let id = s.next
        let slot = Slot(
            event: FleetEvent(id: id, at: at, kind: kind, agent: agent, rollout: rollout, detail: detail), frame: nil)
        let index = s.index(id)
        if index == s.ring.count {
            // Growing: reserved to the ring's size at most, however the array would double.
            if s.ring.count == s.ring.capacity { s.ring.reserveCapacity(min(s.capacity, max(1024, 2 * s.ring.count))) }
            s.ring.append(slot)
        } else {
            s.ring[index] = slot
        }
        s.next += 1
    }

    /// The stream's kind for an inventory history event (nil for those it does not carry).
    static func kind(ofHistory kind: String) -> FleetEventKind? {
        switch kind {
        case "connected": .agentConnected
        case "disconnected": .agentDisconnected
        case "health_changed": .agentHealth
        case "remote_config_status_changed", "effective_config_changed": .agentConfig
        default: kind.hasPrefix("config_") ? .agentConfig : nil
        }
    }
}
