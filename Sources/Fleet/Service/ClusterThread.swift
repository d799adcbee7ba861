import Foundation
import Synchronization

/// A session that can hold the cluster's leadership lock (PostgreSQL's advisory lock).
protocol LeadershipSession: FleetStore {
    /// True while this session holds the lock (taken now if it was free).
    func tryLeadershipLock() throws(StoreError) -> Bool
}

extension PostgresStore: LeadershipSession {}

/// The `fleet-cluster` thread: beats this instance's heartbeat on its own session, takes the
/// leadership when it is free and gives it up when the session is lost, and steps the
/// `ClusterMachine` with what happened. See docs/ARCHITECTURE.md, "Several instances".
final class ClusterThread: Sendable {
    private let session: any LeadershipSession
    private let instance: String
    private let epoch: Int64
    private let machine: Mutex<ClusterMachine>
    private let clock: @Sendable () -> Int64
    private let log: @Sendable (String) -> Void
    private let connectedAgents: @Sendable () -> Int
    private let lastRelease = Mutex<Int64>(0)
    private let marks = Mutex(PruneMarks(keepMilliseconds: 600_000))
    /// The fleet's own store: its batches are announced while other instances are alive.
    private let announcing: PostgresStore?

    init(
        session: any LeadershipSession, instance: String, epoch: Int64, options: FleetOptions,
        connectedAgents: @escaping @Sendable () -> Int, announcing: PostgresStore? = nil
    ) {
        self.announcing = announcing
        self.session = session
        self.instance = instance
        self.epoch = epoch
        clock = options.clock
        log = options.log
        self.connectedAgents = connectedAgents
        machine = Mutex(
            ClusterMachine(
                leaseMilliseconds: options.leaderLeaseMilliseconds,
                graceMilliseconds: options.ownershipGraceMilliseconds, now: options.clock()))
    }

    /// How often the heartbeat goes out: several times per lease, so a live leader's session
    /// never idles out, and instances that stopped beating are told apart within a lease.
    var intervalMilliseconds: Int64 { max(100, machine.withLock { $0.leaseMilliseconds } / 5) }

    /// One heartbeat: the SQL, then the machine's step; returns what the caller must do.
    func beat() -> [ClusterMachine.Effect] {
        let now = clock()
        var effects: [ClusterMachine.Effect] = []
        do throws(StoreError) {
            let own = try session.heartbeat(id: instance, epoch: epoch, agents: connectedAgents(), now: now)
            let committed = clock()
            let lease = machine.withLock { $0.leaseMilliseconds }
            let holds = own ? try session.tryLeadershipLock() : false
            var token: Int64?
            if machine.withLock({ $0.needsToken(holdsLock: holds) }) {
                token = try session.takeLeadership(instance: instance, now: now)
            }
            // Peers alive within two leases: they read this instance's batches (see `PeerFeed`),
            // and would take its agents if it lost the database.
            let peers = try session.peersAlive(besides: instance, now: now, window: 2 * lease)
            announcing?.announceBatches(as: peers ? instance : nil)
            effects = machine.withLock {
                $0.contact(now: now, holdsLock: holds, newToken: token, ownRow: own, peers: peers, committed: committed)
            }
            if machine.withLock({ $0.token != nil }), lastRelease.withLock({ now - $0 >= lease }) {
                // The leader's work: agents of instances silent for two leases are shown
                // disconnected (they reconnect elsewhere, or nowhere).
                lastRelease.withLock { $0 = now }
                let released = try session.releaseAgents(ofInstancesSilentSince: now - 2 * lease)
                if released > 0 { log("cluster: \(released) agents of silent instances marked disconnected") }
                // Announcements are read within seconds; ten minutes covers any reader's retry.
                let mark = try session.changeMarks()
                if let due = marks.withLock({ $0.note(mark, at: now) }) { try session.pruneChanges(through: due) }
            }
            if !own && !effects.isEmpty {
                log("cluster: another process registered as instance \(instance); this one holds no agents now")
            }
        } catch {
            let lost = machine.withLock { $0.silence(now: now) }
            if !lost.isEmpty { log("cluster: database unreachable: \(error.message)") }
            effects = lost
        }
        return effects
    }

    /// Runs until `isStopping` is true, handing each step's effects to `apply`.
    func run(isStopping: () -> Bool, apply: (ClusterMachine.Effect) -> Void) {
        while !isStopping() {
            for effect in beat() { apply(effect) }
            let until = clock() + intervalMilliseconds
            while !isStopping() && clock() < until { usleep(20_000) }
        }
    }
}

/// When announcements and actions may go: the newest of each is noted at every prune, and what
/// was newest `keepMilliseconds` ago is deleted through. Pure; a new leader starts with no marks
/// and prunes once it has kept its own for that long.
struct PruneMarks: Sendable {
    /// The newest announcement revision and action id at one time.
    struct Mark: Equatable, Sendable {
        var changes: Int64
        var actions: Int64
    }

    let keepMilliseconds: Int64
    private var noted: [(at: Int64, mark: Mark)] = []

    init(keepMilliseconds: Int64) { self.keepMilliseconds = keepMilliseconds }

    /// Notes `mark` at `now`; returns the mark to delete through, if one is old enough.
    mutating func note(_ mark: Mark, at now: Int64) -> Mark? {
        noted.append((now, mark))
        guard let last = noted.lastIndex(where: { now - $0.at >= keepMilliseconds }) else { return nil }
        let due = noted[last].mark
        noted.removeFirst(last + 1)
        return due
    }
}
