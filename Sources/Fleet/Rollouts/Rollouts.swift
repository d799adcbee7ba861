import Core
import Foundation
import Synchronization

/// A rollout as the operator API shows it.
public struct Rollout: Sendable {
    /// Its id.
    public var id: String
    /// What was asked for.
    public var spec: RolloutSpec
    /// Where it is.
    public var state: RolloutState
    /// The stage running (or paused, or last done), from 0.
    public var stage: Int
    /// How many stages it has.
    public var stages: Int
    /// Why it paused (a gate, or an operator), when it did.
    public var reason: String?
    /// Bumped by every change: `If-Match` must name the current one.
    public var etag: Int64
    /// The rollout this one undoes, for a rollback.
    public var rollbackOf: String?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// Milliseconds since the Unix epoch.
    public var updatedAt: Int64
    /// Its agents, over all stages started so far.
    public var counts = StageCounts()
    /// Agents per stage (targets of stages not started yet count as pending).
    public var stageCounts: [StageCounts] = []
    /// Agents of older rollouts this one took over, by rollout id (at creation).
    public var superseded: [String: Int] = [:]
}

/// The rollouts and their members: the controller's memory. One lock for all of it, taken by
/// the operator's actions and the controller's tick, never by an event loop; reads of
/// rollouts take a published copy instead.
final class RolloutBook: Sendable {
    struct Entry {
        var rollout: Rollout
        /// Members by stage.
        var members: [[InstanceUID]]
        /// For a rollback: the hash each member goes back to ("" removes its pin).
        var pins: [InstanceUID: String] = [:]
        /// When the current stage had no agent left applying.
        var doneAt: Int64?
        /// Failures an operator accepted by resuming: gates count what comes after.
        var baseline = StageCounts()
        /// A change not yet stored (the database was down): stored again on the next tick.
        var dirty = false
        /// Its last write failed (logged once, retried every tick).
        var failing = false
        /// What the members of the stage started last had applied before, not yet stored.
        var unsavedPrevious: [RolloutMemberRow] = []
        /// What the event stream last said about it (state, stage, counts), and when.
        var published: (signature: String, at: Int64)?
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Ids, oldest first.
        var order: [String] = []
    }

    private let state = Mutex(State())
    /// A copy of `state` as the last change left it: operators read rollouts from here, so that a
    /// read never waits for a stage start (whose pins take seconds at a million agents) or for
    /// a rollout's first write.
    private let published = Mutex(State())

    /// Changes the book under its lock; what the change leaves is published for readers.
    func change<R: Sendable, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        try state.withLock { (s) throws(E) -> R in
            // Published also when `body` throws: it may have changed entries before it did.
            defer { published.withLock { $0 = s } }
            return try body(&s)
        }
    }

    /// The book as the last change left it (a copy: entries share their storage with the book's).
    var snapshot: State { published.withLock { $0 } }

    /// Held while rollouts are written to the database, before `state` when both are taken:
    /// the controller writes what it changed after letting go of `state` (so that reading a
    /// rollout never waits on the database), and no other write may come in between.
    let writing = Mutex<Void>(())
}

extension RolloutState {
    /// True for a rollout that will not change again by itself.
    var isFinal: Bool { self == .completed || self == .aborted || self == .rolledBack }
}
