import Core
import Foundation
import Synchronization

/// The fleet: wires the inventory, the intake from the event loops, the ingest and writer
/// threads, the config catalogue, the assignments and the counters, and offers them to the
/// gateway (`desiredState`, `knownState`, `record`, `heartbeat`: short, and never waiting on the
/// database) and to the operator API. See docs/ARCHITECTURE.md for who owns what.
public final class FleetService: Sendable {
    /// The options it runs with.
    public let options: FleetOptions
    let store: any FleetStore
    let inventory: Inventory
    let intake = Intake()
    let counters = FleetCounters()
    let writer: WriterThread
    let ingester: IngestThread
    let identities: Identities
    let enrollment: Enrollment
    let operatorTokens: OperatorTokens
    let audit: AuditLog
    let certificates: AgentCertificates
    let rollouts = RolloutBook()
    /// The live event stream's recent past (`GET /api/v1/events`).
    public let events: FleetEvents
    let groups: Mutex<[String: GroupRow]>
    /// Held across a group's precondition check and its write.
    let groupWrites = Mutex(())
    /// The last custom messages of each agent.
    let customMessages: CustomMessageLog
    /// What every agent is offered beyond its config: the server's custom capabilities, with
    /// their fingerprint computed once instead of for every message.
    let baseDesired: DesiredState
    let configVersions: ConfigVersions
    let control = Mutex(Control())
    /// This process's epoch (drawn at start): its rows' claims carry it.
    public let epoch: Int64
    /// Heartbeats and leadership when several instances share a PostgreSQL; nil alone.
    let cluster: ClusterThread?
    /// Other instances' agents, followed into this inventory (with `cluster`).
    let peers: PeerFeed?
    /// False while this instance cannot record agents (cut off from its database past the grace).
    let admitting = Atomic<Bool>(true)

    struct Control {
        var pushHandler: (@Sendable ([InstanceUID]?) -> Void)?
        var disconnectHandler: (@Sendable (InstanceUID) -> Void)?
        var commandHandler: (@Sendable (InstanceUID, AgentCommandKind) -> Bool)?
        var customMessageHandler: (@Sendable (InstanceUID, CustomMessage) -> Bool)?
        var ownershipHandler: (@Sendable (Bool) -> Void)?
        var movedAwayHandler: (@Sendable ([InstanceUID]) -> Void)?
        var started = false
        var stopping = false
    }
    private let threadsDone = DispatchGroup()

    /// Called with the uids whose desired state changed and who are connected (nil: everyone).
    public var onPush: (@Sendable ([InstanceUID]?) -> Void)? {
        get { control.withLock { $0.pushHandler } }
        set { control.withLock { $0.pushHandler = newValue } }
    }

    /// Called with agents this instance held that another instance holds now (their plain-HTTP
    /// sessions here are stale).
    public var onMovedAway: (@Sendable ([InstanceUID]) -> Void)? {
        get { control.withLock { $0.movedAwayHandler } }
        set { control.withLock { $0.movedAwayHandler = newValue } }
    }

    /// Called with false when this instance must let its agents go (the database was out of
    /// reach past `ownershipGraceMilliseconds`, or another process took its id), true when it
    /// may hold agents again.
    public var onOwnership: (@Sendable (Bool) -> Void)? {
        get { control.withLock { $0.ownershipHandler } }
        set { control.withLock { $0.ownershipHandler = newValue } }
    }

    /// Loads the inventory from `store` (agents this instance held are marked disconnected:
    /// its previous run ended) and registers this process, then starts nothing until `start()`.
    /// With `clusterSession` (a PostgreSQL session of its own), the instance beats a heartbeat
    /// there and takes part in the choice of a leader for the periodic work.
    public init(store: any FleetStore, options: FleetOptions, clusterSession: PostgresStore? = nil)
        throws(StoreError)
    {
        self.store = store
        self.options = options
        let epoch = try store.drawEpoch()
        self.epoch = epoch
        let started = options.clock()
        try store.registerInstance(
            InstanceRow(
                id: options.instance, address: options.address, epoch: epoch, startedAt: started,
                lastHeartbeat: started, agents: 0))
        try store.markDisconnected(owner: options.instance)
        // Actions other instances post from now on are carried out, even before this one listens.
        let actionsFrom = clusterSession != nil ? try (store as? PostgresStore)?.latestActionID() ?? 0 : 0
        let rows = try store.loadAgents()
        let catalogue = ConfigCatalogue(store: store, configs: try store.loadConfigs())
        for config in catalogue.all { catalogue.learnComponents(config.hash) }
        let assignments = Assignments(
            try store.loadAssignments().map { Assignments.Entry(row: $0, config: catalogue.shared($0.hash)) })
        for entry in assignments.all { catalogue.learnComponents(entry.row.hash) }
        // The component sets agents reported, by hash: few distinct builds, read once.
        var componentSets: [String: Set<String>] = [:]
        for hash in Set(rows.compactMap(\.componentsHash)) {
            if let blob = try store.blob(hash: "components:" + hash),
                let components = try? AvailableComponents(serializedBytes: blob.body),
                let names = ComponentCompatibility.available(components)
            {
                componentSets[hash] = names
            }
        }
        inventory = Inventory(
            rows: rows, instance: options.instance, epoch: epoch,
            lastSeenWriteInterval: options.lastSeenWriteIntervalMilliseconds,
            hot: HotTable(), catalogue: catalogue, assignments: assignments,
            labels: AgentLabels(store: store, rows: try store.loadLabels(), log: options.log),
            componentSets: componentSets, now: options.clock())
        configVersions = ConfigVersions(store: store, catalogue: catalogue, options: options)
        writer = WriterThread(store: store, options: options, counters: counters)
        events = FleetEvents(capacity: max(1, options.eventBuffer), startedAt: options.clock())
        let customMessages = CustomMessageLog()
        self.customMessages = customMessages
        // Everyone's connection settings, shared by every agent without settings of its own.
        baseDesired = DesiredState(
            connectionSettings: options.connectionSettings, customCapabilities: options.customCapabilities)
        ingester = IngestThread(
            intake: intake, inventory: inventory, writer: writer, counters: counters, options: options, events: events,
            customMessages: customMessages)
        identities = Identities(
            store: store, rows: try store.loadIdentities(), log: options.log, clock: options.clock)
        enrollment = Enrollment(store: store, rows: try store.loadTokens(), log: options.log, clock: options.clock)
        operatorTokens = OperatorTokens(
            store: store, rows: try OperatorTokens.load(from: store), clock: options.clock)
        audit = AuditLog(store: store, log: options.log)
        groups = Mutex(Dictionary(try store.loadGroups().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }))
        certificates = try AgentCertificates(
            authority: options.authority, lifetimeSeconds: options.agentCertificateLifetimeSeconds, store: store,
            log: options.log, clock: options.clock)
        // Not the leader until the lock says so.
        if clusterSession != nil { counters.update { $0.leader = false } }
        cluster = clusterSession.map { [inventory] session in
            ClusterThread(
                session: session, instance: options.instance, epoch: epoch, options: options,
                connectedAgents: { inventory.held }, announcing: store as? PostgresStore)
        }
        peers = try clusterSession.map { [inventory, counters, events] session throws(StoreError) in
            PeerFeed(
                // Not the cluster session's sibling: a LISTEN session waits idle, and must not be
                // ended by the cluster session's idle timeout.
                session: try (store as? PostgresStore ?? session).sibling(), inventory: inventory, counters: counters,
                events: events, options: options,
                loadedAt: started, actionsFrom: actionsFrom)
        }
        // Agents keep being offered the certificate they hold (an offer without it would be a change).
        for issued in certificates.all where inventory.hot.contains(issued.uid) { offer(issued) }
        inventory.setApplyTimeout(options.configApplyTimeoutMilliseconds)
        try loadRollouts()
        let known = inventory.counts.known
        counters.update { $0.agentsKnown = known }
        // Certificates issued or renewed here identify their agents on the other instances too.
        certificates.whenSaved { [weak self] uids in _ = self?.forward(.certificates, uids: uids, to: "*") }
        // Another instance bound the uid first: the connection let in here is an impostor's.
        identities.onConflict { [weak self] uid, _ in
            guard let self else { return }
            counters.update { $0.identityConflicts += 1 }
            control.withLock { $0.disconnectHandler }?(uid)
        }
        identities.onRebound { [weak self] uid in _ = self?.forward(.identities, uids: [uid], to: "*") }
        inventory.labels.onWritten { [weak self] uids in _ = self?.forward(.labels, uids: uids, to: "*") }
    }

    /// False while agents must go to another instance (see `onOwnership`).
    public var isAdmitting: Bool { admitting.load(ordering: .acquiring) }

    /// True while this instance does the cluster's periodic work (always when alone).
    public var isLeader: Bool { counters.snapshot.leader }

    /// The database backend: `sqlite` or `postgres`.
    public var backend: String { store.backend }

    /// Closes the store (after `stop()`).
    public func close() { store.close() }

    /// Starts the ingest and writer threads.
    public func start() {
        control.withLock { $0.started = true }
        threadsDone.enter()
        threadsDone.enter()
        threadsDone.enter()
        if let cluster {
            threadsDone.enter()
            let thread = Thread { [self] in
                cluster.run(isStopping: { control.withLock { $0.stopping } }, apply: apply)
                threadsDone.leave()
            }
            thread.name = "fleet-cluster"
            thread.start()
        }
        if let peers {
            threadsDone.enter()
            let thread = Thread { [self] in
                peers.run(
                    isStopping: { control.withLock { $0.stopping } }, act: perform,
                    movedAway: { uids in
                        if !uids.isEmpty { control.withLock { $0.movedAwayHandler }?(uids) }
                    })
                threadsDone.leave()
            }
            thread.name = "fleet-peers"
            thread.start()
        }
        // Tokens created or revoked by another process (`ampora token`) are seen within 2 s,
        // when audit entries that waited for the database are retried too; agent certificates
        // are looked at every 10 s for renewal, the audit retention every hour; rollouts
        // advance every 50 ms.
        let tokens = Thread { [self] in
            var waited = 0
            while !control.withLock({ $0.stopping }) {
                Thread.sleep(forTimeInterval: 0.05)
                waited += 1
                if waited % 40 == 0 {
                    enrollment.refresh()
                    operatorTokens.refresh()
                    audit.scheduleWrite()
                }
                if waited % 72_000 == 1 && isLeader { pruneAudit() }
                if waited % 200 == 1 && isLeader { renewCertificates() }
                rolloutTick()
            }
            threadsDone.leave()
        }
        tokens.name = "fleet-tokens"
        tokens.start()
        let ingest = Thread { [self] in
            ingester.run { control.withLock { $0.stopping } }
            threadsDone.leave()
        }
        ingest.name = "fleet-ingest"
        let writing = Thread { [self] in
            writer.run()
            threadsDone.leave()
        }
        writing.name = "fleet-writer"
        ingest.start()
        writing.start()
    }

    /// Drains what loops handed over and flushes it; gives up on the database after `timeout`
    /// seconds (logging what was not written). Returns true when everything was written.
    @discardableResult
    public func stop(timeout: Double = 10) -> Bool {
        let started = control.withLock { c in
            c.stopping = true
            return c.started
        }
        writer.stop()
        identities.flush()
        enrollment.flush()
        certificates.flush()
        inventory.labels.flush()
        audit.flush()
        operatorTokens.refresh()
        if !started { return true }
        let finished = threadsDone.wait(timeout: .now() + timeout) == .success
        let left = writer.backlog
        if !finished || left > 0 {
            options.log("fleet: \(left) rows not written at shutdown (database unreachable)")
        }
        return finished && left == 0
    }

    // MARK: Retention (run by the ingest thread; here for tests)

    func forgetStale(now: Int64) { ingester.forgetStale(now: now) }

    func dropStaleReservations(now: Int64) { ingester.dropStaleReservations(now: now) }
}
