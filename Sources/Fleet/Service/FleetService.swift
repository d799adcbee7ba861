import Core
import Foundation

/// The fleet: in-memory inventory (the source for reads), desired configs per agent, and a
/// write-behind path to the store. Event loops only touch `desiredState`, `knownState`,
/// `record` and `heartbeat`, each a short critical section that never waits on the database.
public final class FleetService: @unchecked Sendable {
    /// The store this fleet persists to.
    public let store: any FleetStore
    /// The options it runs with.
    public let options: FleetOptions

    /// Called with the uids whose desired state changed and who are connected (nil: everyone).
    public var onPush: (@Sendable ([InstanceUID]?) -> Void)? {
        get { hotLock.withLock { pushHandler } }
        set { hotLock.withLock { pushHandler = newValue } }
    }

    // Loop-facing: per-agent seeds and desired configs.
    private struct HotEntry {
        var held: StatusParts = []
        var config: SharedRemoteConfig?
        /// Admitted by `register` but not in the inventory yet: its first message still decides
        /// its config (by the description it sends), as for an agent never seen.
        var reserved = false
    }
    private let hotLock = NSLock()
    private var hot: [InstanceUID: HotEntry] = [:]
    /// Assignments, newest last, with their encoded configs: what a never-seen agent's first
    /// message is matched against on the loop (no database, no inventory lock).
    private var hotAssignments: [(row: AssignmentRow, config: SharedRemoteConfig?)] = []
    private var pushHandler: (@Sendable ([InstanceUID]?) -> Void)?
    /// Agents `register` admitted whose first message has not reached the inventory yet, with
    /// when: one that never arrives (its message was refused after all) gives its room back.
    private var reservations: [InstanceUID: Int64] = [:]
    private static let reservationLifetimeMilliseconds: Int64 = 60_000

    // Intake: what loops hand over, drained by the ingest thread.
    private let intakeLock = NSLock()
    private var intake: [StatusChanges] = []
    private var intakeBeats: [InstanceUID] = []
    /// Messages handed over (under intakeLock) and messages applied (under pendingCondition):
    /// equal when nothing is between the loops and the pending set.
    private var handedOver = 0
    private var applied = 0
    /// True while the writer holds a batch it has not finished writing.
    private var writing = false
    /// History of the batch being written: still unwritten, so agent detail must show it.
    private var writingHistory: [HistoryRow] = []

    // Inventory, configs and assignments (ingest thread and operator calls).
    private let stateLock = NSLock()
    private var agents: [InstanceUID: AgentState] = [:]
    private var configs: [String: ConfigRow] = [:]
    private var assignments: [AssignmentRow] = []
    private var shared: [String: SharedRemoteConfig] = [:]
    private var blobsSeen: Set<String> = []
    /// Agents with `connected` set, kept as they change so /metrics never walks the inventory.
    private var connectedCount = 0

    // Write-behind.
    private let pendingCondition = NSCondition()
    private var pending = Pending()
    private var metricsValue = FleetMetrics()
    private var stopping = false
    private var ingestDone = false
    private var threads: [Thread] = []
    private let threadsDone = DispatchGroup()

    private struct Pending {
        // Keyed by the 16-byte uid: hashing it is far cheaper than hashing its 36-character text.
        var agents: [InstanceUID: AgentRow] = [:]
        var touches: [InstanceUID: Int64] = [:]
        var blobs: [BlobRow] = []
        var history: [HistoryRow] = []
        var forgotten: [String] = []
        var count: Int { agents.count + touches.count + blobs.count + history.count + forgotten.count }

        /// A liveness update: folded into a waiting snapshot, or kept as a touch.
        mutating func raiseLastSeen(_ uid: InstanceUID, _ at: Int64) {
            if var row = agents[uid] {
                row.lastSeen = max(row.lastSeen, at)
                agents[uid] = row
            } else {
                touches[uid] = max(touches[uid] ?? 0, at)
            }
        }
    }

    /// Loads the inventory from `store` (agents this instance held are marked disconnected:
    /// its previous run ended), then starts nothing until `start()`.
    public init(store: any FleetStore, options: FleetOptions) throws(StoreError) {
        self.store = store
        self.options = options
        try store.markDisconnected(owner: options.instance)
        let rows = try store.loadAgents()
        for config in try store.loadConfigs() { configs[config.name] = config }
        assignments = try store.loadAssignments()
        for row in rows {
            guard let uid = InstanceUID(string: row.uid) else { continue }
            var state = AgentState(row: row)
            if state.row.owner == options.instance { state.row.connected = false }
            replace(uid, nil, with: state)
        }
        hotAssignments = assignments.map { ($0, sharedConfig($0.hash)) }
        for uid in Array(agents.keys) { refreshDesired(uid) }
        for (uid, state) in agents { hot[uid, default: HotEntry()].held = state.heldParts }
        metricsValue.agentsKnown = agents.count
    }

    /// Starts the ingest and writer threads.
    public func start() {
        let ingest = Thread { [self] in
            ingestLoop()
            threadsDone.leave()
        }
        ingest.name = "fleet-ingest"
        let writer = Thread { [self] in
            writerLoop()
            threadsDone.leave()
        }
        writer.name = "fleet-writer"
        threadsDone.enter()
        threadsDone.enter()
        threads = [ingest, writer]
        ingest.start()
        writer.start()
    }

    /// Drains what loops handed over and flushes it; gives up on the database after `timeout`
    /// seconds (logging what was not written). Returns true when everything was written.
    @discardableResult
    public func stop(timeout: Double = 10) -> Bool {
        pendingCondition.withLock {
            stopping = true
            pendingCondition.broadcast()
        }
        if threads.isEmpty { return true }
        let finished = threadsDone.wait(timeout: .now() + timeout) == .success
        let left = pendingCondition.withLock { pending.count }
        if !finished || left > 0 {
            options.log("fleet: \(left) rows not written at shutdown (database unreachable)")
        }
        return finished && left == 0
    }

    // MARK: Loop-facing

    /// What the fleet wants for `uid` (a shared, pre-encoded remote config, if any).
    public func desiredState(for uid: InstanceUID) -> DesiredState {
        hotLock.lock()
        let config = hot[uid]?.config
        hotLock.unlock()
        return DesiredState(remoteConfig: config)
    }

    /// What the fleet wants for an agent's first message on a connection: a never-seen agent
    /// is matched by the description it is sending, so its first reply already carries its config.
    public func desiredState(for uid: InstanceUID, firstMessage: AgentToServerView) -> DesiredState {
        let (known, anyAssignment) = hotLock.withLock { (hot[uid], !hotAssignments.isEmpty) }
        if let known, !known.reserved { return DesiredState(remoteConfig: known.config) }
        guard anyAssignment, let view = firstMessage.agentDescription else { return DesiredState() }
        // Decoded outside the lock the other loops take for every message.
        let attributes = AgentState.attributes(of: view.owned())
        let key = uid.description
        let winner = hotLock.withLock {
            hotAssignments.last { a in
                a.row.uids.isEmpty ? AgentState.matches(attributes, a.row.selector) : a.row.uids.contains(key)
            }
        }
        return DesiredState(remoteConfig: winner?.config)
    }

    /// What the fleet already holds for a (re)connecting agent.
    public func knownState(for uid: InstanceUID) -> (held: StatusParts, lastSequenceNum: UInt64?)? {
        hotLock.lock()
        defer { hotLock.unlock() }
        guard let entry = hot[uid], !entry.held.isEmpty else { return nil }
        return (entry.held, nil)
    }

    /// True when the inventory holds `uid` (or has made room for it).
    public func isKnown(_ uid: InstanceUID) -> Bool {
        hotLock.withLock { hot[uid] != nil }
    }

    /// Makes room for a new agent; false when the inventory already holds `maxAgents`.
    public func register(_ uid: InstanceUID) -> Bool {
        hotLock.withLock {
            if hot[uid] != nil { return true }
            guard hot.count < options.maxAgents else { return false }
            hot[uid] = HotEntry(reserved: true)
            reservations[uid] = Clock.milliseconds()
            return true
        }
    }

    /// Queues a message's changes for the ingest thread.
    public func record(_ changes: StatusChanges) {
        intakeLock.lock()
        intake.append(changes)
        handedOver &+= 1
        intakeLock.unlock()
    }

    /// Queues a liveness update.
    public func heartbeat(_ uid: InstanceUID) {
        intakeLock.lock()
        intakeBeats.append(uid)
        handedOver &+= 1
        intakeLock.unlock()
    }

    // MARK: Ingest

    private func ingestLoop() {
        var changes: [StatusChanges] = []
        var beats: [InstanceUID] = []
        var lastSweep = Clock.milliseconds()
        while true {
            let now = Clock.milliseconds()
            if now - lastSweep >= options.retentionSweepMilliseconds {
                lastSweep = now
                if options.forgetAfterMilliseconds > 0 { forgetStale(now: now) }
                dropStaleReservations(now: now)
            }
            intakeLock.lock()
            swap(&changes, &intake)
            swap(&beats, &intakeBeats)
            intakeLock.unlock()
            let isStopping = pendingCondition.withLock { stopping }
            if changes.isEmpty && beats.isEmpty {
                if isStopping { break }
                usleep(5_000)
                continue
            }
            // Slices, so the writer starts on the first rows while later ones are applied.
            var start = 0
            while start < changes.count {
                let end = min(changes.count, start + 4096)
                ingest(changes[start..<end], start == 0 ? beats : [])
                start = end
            }
            if changes.isEmpty { ingest([], beats) }
            changes.removeAll(keepingCapacity: true)
            beats.removeAll(keepingCapacity: true)
        }
        // Last-seen times held back by lastSeenWriteIntervalMilliseconds go out with the last flush.
        var unwritten: [(InstanceUID, Int64)] = []
        stateLock.withLock {
            for (uid, state) in agents where state.row.lastSeen > state.seenWritten {
                unwritten.append((uid, state.row.lastSeen))
                agents[uid]!.seenWritten = state.row.lastSeen
            }
        }
        pendingCondition.withLock {
            for (uid, at) in unwritten { pending.raiseLastSeen(uid, at) }
            ingestDone = true
            pendingCondition.broadcast()
        }
    }

    private func ingest(_ changes: ArraySlice<StatusChanges>, _ beats: [InstanceUID]) {
        // Everything proportional to a message's size happens here, before the lock.
        let prepared = changes.map(PreparedChange.init)
        let now = Clock.milliseconds()
        var rows: [InstanceUID: AgentRow] = [:]
        rows.reserveCapacity(changes.count)
        var touches: [InstanceUID: Int64] = [:]
        var blobs: [BlobRow] = []
        var history: [HistoryRow] = []
        var heldUpdates: [(InstanceUID, StatusParts)] = []
        stateLock.withLock {
            for change in prepared {
                guard let uid = change.change.instanceUID else { continue }
                if var row = apply(change, uid: uid, now: now, &blobs, &history, &heldUpdates) {
                    if rows[uid]?.isNew == true { row.isNew = true }
                    rows[uid] = row
                    touches[uid] = nil
                }
            }
            for uid in beats {
                // In place: taking the state out and putting it back copied it per heartbeat.
                guard agents[uid] != nil else { continue }
                agents[uid]!.row.lastSeen = now
                if rows[uid] != nil {
                    // Written with the row this batch holds (apply set seenWritten already).
                    rows[uid]?.lastSeen = now
                } else if now - agents[uid]!.seenWritten >= options.lastSeenWriteIntervalMilliseconds {
                    touches[uid] = now
                    agents[uid]!.seenWritten = now
                }
            }
            metricsValue.changesIngested += changes.count + beats.count
            metricsValue.agentsKnown = agents.count
        }
        let admitted = rows.filter { $0.value.isNew }.map(\.key)
        if !heldUpdates.isEmpty || !admitted.isEmpty {
            hotLock.withLock {
                for (uid, held) in heldUpdates { hot[uid, default: HotEntry()].held = held }
                for uid in admitted {
                    hot[uid, default: HotEntry()].reserved = false
                    reservations[uid] = nil
                }
            }
        }
        pendingCondition.withLock {
            for (uid, row) in rows {
                var row = row
                if pending.agents[uid]?.isNew == true { row.isNew = true }
                pending.agents[uid] = row
                pending.touches[uid] = nil
            }
            for (uid, at) in touches { pending.raiseLastSeen(uid, at) }
            pending.blobs += blobs
            pending.history += history
            applied &+= changes.count + beats.count
            trimHistoryBacklog()
            if pending.count >= options.batchRows { pendingCondition.broadcast() }
        }
    }

    /// Applies one message to the inventory (stateLock held); returns the new snapshot.
    private func apply(
        _ prepared: PreparedChange, uid: InstanceUID, now: Int64, _ blobs: inout [BlobRow],
        _ history: inout [HistoryRow], _ heldUpdates: inout [(InstanceUID, StatusParts)]
    ) -> AgentRow? {
        let change = prepared.change
        let existing = agents[uid]
        let isNew = existing == nil
        var state = existing ?? AgentState(row: AgentRow(uid: uid.description))
        let key = state.row.uid
        if isNew { state.row.firstSeen = now }
        state.row.lastSeen = now
        let heldBefore = state.heldParts
        var describe = false
        func event(_ kind: String, _ detail: String) {
            history.append(HistoryRow(uid: key, at: now, kind: kind, detail: detail))
        }
        if change.connected {
            state.row.connected = true
            state.row.owner = options.instance
            event("connected", isNew ? "first connection" : "reconnected")
        }
        if let caps = change.capabilities { state.row.capabilities = Int64(bitPattern: caps.rawValue) }
        if let bytes = prepared.descriptionBytes, let attributes = prepared.attributes {
            state.row.description = bytes
            if !isNew && !attributes.elementsEqual(state.attributes, by: { $0 == $1 }) {
                event("description_changed", "\(attributes.count) attributes")
            }
            state.attributes = attributes
            describe = true
        }
        if let health = change.health {
            state.row.health = prepared.healthBytes
            if state.healthy != health.healthy {
                let detail =
                    health.healthy ? "healthy" : "unhealthy" + (health.lastError.isEmpty ? "" : ": \(health.lastError)")
                if state.healthy != nil || !health.healthy { event("health_changed", detail) }
            }
            state.healthy = health.healthy
        }
        if let hash = prepared.effectiveHash, let body = prepared.effectiveBody {
            if state.row.effectiveConfigHash != hash {
                if state.row.effectiveConfigHash != nil { event("effective_config_changed", hash) }
                state.row.effectiveConfigHash = hash
            }
            if blobsSeen.insert(hash).inserted {
                blobs.append(BlobRow(hash: hash, kind: "config", body: body))
            }
        }
        if let remote = change.remoteConfigStatus, let hash = prepared.remoteHash {
            state.row.remoteConfigStatus = prepared.remoteBytes
            if hash != state.remoteHash || remote.status != state.remoteStatus
                || remote.errorMessage != state.remoteError
            {
                let error = remote.errorMessage.isEmpty ? "" : ": \(remote.errorMessage)"
                event("remote_config_status_changed", "\(remote.status.apiName) \(hash)\(error)")
            }
            state.setRemote(remote, hash: hash)
        }
        if let packages = prepared.packagesBytes { state.row.packageStatuses = packages }
        if let hash = prepared.componentsHash {
            state.row.componentsHash = hash
            if let body = prepared.componentsBody, blobsSeen.insert("components:" + hash).inserted {
                blobs.append(BlobRow(hash: "components:" + hash, kind: "components", body: body))
            }
        }
        if let custom = prepared.customBytes { state.row.customCapabilities = custom }
        if let settings = prepared.settingsBytes { state.row.connectionSettingsStatus = settings }
        if change.resolvedDuplicate, let fresh = change.assignedInstanceUID {
            event("duplicate_uid", "a second live connection used this uid; it was given \(fresh)")
        }
        if change.disconnected {
            state.row.connected = false
            event("disconnected", "")
        }
        state.seenWritten = now
        replace(uid, existing, with: state)
        if describe || isNew { refreshDesired(uid) }
        let heldNow = state.heldParts
        if heldNow != heldBefore { heldUpdates.append((uid, heldNow)) }
        var row = state.row
        row.isNew = isNew
        return row
    }

    /// Retention: disconnected agents not seen for `forgetAfterMilliseconds` leave the
    /// inventory, and their rows and history leave the database with the next batch.
    func forgetStale(now: Int64) {
        let cutoff = now - options.forgetAfterMilliseconds
        var forgotten: [InstanceUID] = []
        stateLock.withLock {
            for (uid, state) in agents where !state.row.connected && state.row.lastSeen < cutoff {
                forgotten.append(uid)
            }
            for uid in forgotten {
                if let state = agents.removeValue(forKey: uid) { count(state, -1) }
            }
        }
        guard !forgotten.isEmpty else { return }
        hotLock.withLock {
            for uid in forgotten where hot[uid]?.reserved != true { hot[uid] = nil }
        }
        pendingCondition.withLock {
            for uid in forgotten {
                pending.agents[uid] = nil
                pending.touches[uid] = nil
                pending.forgotten.append(uid.description)
            }
            metricsValue.agentsForgotten += forgotten.count
            pendingCondition.broadcast()
        }
        options.log("fleet: forgot \(forgotten.count) agents not seen for \(options.forgetAfterMilliseconds / 1000) s")
    }

    /// Room `register` made for agents that never arrived is given back.
    func dropStaleReservations(now: Int64) {
        hotLock.withLock {
            guard !reservations.isEmpty else { return }
            for (uid, at) in reservations where now - at > Self.reservationLifetimeMilliseconds {
                reservations[uid] = nil
                if hot[uid]?.reserved == true { hot[uid] = nil }
            }
        }
    }

    private func trimHistoryBacklog() {
        let excess = pending.history.count - options.maxHistoryBacklog
        if excess > 0 {
            pending.history.removeFirst(excess)
            metricsValue.historyDropped += excess
        }
    }

    // MARK: Writer

    private func writerLoop() {
        var backoff = 0.1
        var lastFlush = Date()
        var failing = false
        while true {
            var batch = WriteBatch()
            let done: Bool = pendingCondition.withLock {
                while !stopping && pending.count < options.batchRows
                    && Date().timeIntervalSince(lastFlush) * 1000 < Double(options.flushIntervalMilliseconds)
                {
                    _ = pendingCondition.wait(
                        until: lastFlush.addingTimeInterval(Double(options.flushIntervalMilliseconds) / 1000))
                }
                if stopping && ingestDone && pending.count == 0 { return true }
                if stopping && !ingestDone && pending.count == 0 {
                    _ = pendingCondition.wait(until: Date().addingTimeInterval(0.01))
                    return false
                }
                batch.agents = Array(pending.agents.values)
                batch.touches = pending.touches.map { ($0.key.description, $0.value) }
                batch.blobs = pending.blobs
                batch.history = pending.history
                batch.forgotten = pending.forgotten
                // Emptied in place: the next burst refills tables that are already the right size.
                pending.agents.removeAll(keepingCapacity: true)
                pending.touches.removeAll(keepingCapacity: true)
                pending.blobs.removeAll()
                pending.history.removeAll()
                pending.forgotten.removeAll()
                writing = batch.count > 0
                writingHistory = batch.history
                return false
            }
            if done { return }
            lastFlush = Date()
            if batch.count == 0 { continue }
            defer {
                pendingCondition.withLock {
                    writing = false
                    writingHistory = []
                }
            }
            let started = Date()
            do {
                try store.write(batch)
                let seconds = Date().timeIntervalSince(started)
                pendingCondition.withLock {
                    metricsValue.flushes += 1
                    metricsValue.rowsWritten += batch.count
                    metricsValue.lastFlushSeconds = seconds
                    metricsValue.flushSecondsTotal += seconds
                    metricsValue.storeHealthy = true
                    writingHistory = []
                }
                if failing {
                    options.log("fleet: database writes recovered; backlog of \(batch.count) rows written")
                    failing = false
                }
                backoff = 0.1
            } catch {
                let giveUp: Bool = pendingCondition.withLock {
                    requeue(batch)
                    writingHistory = []
                    metricsValue.flushFailures += 1
                    metricsValue.storeHealthy = false
                    return stopping && stopDeadlinePassed()
                }
                if !failing {
                    options.log("fleet: database write failed, keeping \(batch.count) rows and retrying: \(error)")
                    failing = true
                }
                if giveUp { return }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 5)
            }
        }
    }

    private var stopRequestedAt: Date?

    /// During shutdown a dead database is retried for a while, not for ever (stop() logs the loss).
    private func stopDeadlinePassed() -> Bool {
        if stopRequestedAt == nil { stopRequestedAt = Date() }
        return Date().timeIntervalSince(stopRequestedAt!) > 8
    }

    /// Puts a failed batch back; anything newer that arrived meanwhile wins.
    private func requeue(_ batch: WriteBatch) {
        // An agent forgotten while its batch was failing must not come back from that batch.
        let forgottenSince = Set(pending.forgotten)
        for row in batch.agents where !forgottenSince.contains(row.uid) {
            guard let uid = InstanceUID(string: row.uid), pending.agents[uid] == nil else { continue }
            pending.agents[uid] = row
            if let t = pending.touches.removeValue(forKey: uid) {
                pending.agents[uid]?.lastSeen = max(row.lastSeen, t)
            }
        }
        for (text, at) in batch.touches {
            if let uid = InstanceUID(string: text) { pending.raiseLastSeen(uid, at) }
        }
        pending.blobs = batch.blobs + pending.blobs
        pending.history = batch.history + pending.history
        pending.forgotten = batch.forgotten + pending.forgotten
        trimHistoryBacklog()
    }

    /// Counters for /metrics.
    public var metrics: FleetMetrics {
        var m = pendingCondition.withLock {
            var m = metricsValue
            m.backlogAgents = pending.agents.count
            m.backlogTouches = pending.touches.count
            m.backlogHistory = pending.history.count
            return m
        }
        stateLock.withLock {
            m.agentsKnown = agents.count
            m.agentsConnected = connectedCount
        }
        return m
    }

    /// Blocks until everything handed over so far is in the store (tests, benchmarks).
    public func waitUntilWritten(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let target = intakeLock.withLock { handedOver }
            let done = pendingCondition.withLock {
                applied == target && pending.count == 0 && !writing && metricsValue.storeHealthy
            }
            if done { return true }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return false
    }

    // MARK: Operator operations

    /// A filtered, uid-ordered page of agents. Only the page is turned into summaries: the
    /// inventory lock is held for one pass over the agents, not for building every item.
    public func agents(_ query: AgentQuery) -> AgentPage {
        let limit = max(1, min(query.limit, 1000))
        let after = query.cursor.flatMap(InstanceUID.init(string:))
        var matching: [InstanceUID] = []
        var total = 0
        stateLock.withLock {
            for (uid, state) in agents {
                if let connected = query.connected, state.row.connected != connected { continue }
                if !AgentState.matches(state.attributes, query.attributes) { continue }
                total += 1
                if let after, !Self.precedes(after, uid) { continue }
                matching.append(uid)
            }
        }
        // Canonical UUID text sorts like the big-endian bytes.
        let page =
            matching.count > limit
            ? Array(matching.sorted(by: Self.precedes).prefix(limit)) : matching.sorted(by: Self.precedes)
        let items: [AgentSummary] = stateLock.withLock { page.compactMap { agents[$0].map(summary) } }
        return AgentPage(
            items: items, total: total, nextCursor: matching.count > limit ? page.last?.description : nil)
    }

    static func precedes(_ a: InstanceUID, _ b: InstanceUID) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// One agent in full, with its newest history.
    public func agent(_ uid: InstanceUID, historyLimit: Int = 100) -> AgentDetail? {
        guard let state = stateLock.withLock({ agents[uid] }) else { return nil }
        // The agent itself is in memory; only its written history needs the database. While the
        // database is down the answer says so instead of waiting on it or failing.
        // Unwritten events are taken before the database is read: a batch written in between then
        // shows up twice (and is dropped once below) instead of not at all.
        let (unwritten, healthy) = pendingCondition.withLock {
            ((writingHistory + pending.history).filter { $0.uid == state.row.uid }, metricsValue.storeHealthy)
        }
        var history: [HistoryRow] = []
        var complete = healthy
        if complete {
            do {
                history = try store.history(uid: state.row.uid, limit: historyLimit)
            } catch {
                complete = false
            }
        }
        let written = Set(history)
        history = Array((unwritten.reversed().filter { !written.contains($0) } + history).prefix(historyLimit))
        func json<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]?) -> String? {
            bytes.flatMap { try? M(serializedBytes: $0) }.map { $0.jsonString(pretty: false) }
        }
        // Bounded: an agent decides how large its description is, the operator asking for it does not.
        let description = state.row.description.flatMap { try? AgentDescription(serializedBytes: $0) }
            .map { BoundedRendering.description($0) }
        return AgentDetail(
            summary: summary(state),
            descriptionJSON: description?.value.jsonString(pretty: false),
            descriptionTruncated: description?.truncated ?? false,
            healthJSON: json(ComponentHealth.self, state.row.health),
            packageStatusesJSON: json(PackageStatuses.self, state.row.packageStatuses),
            customCapabilitiesJSON: json(CustomCapabilities.self, state.row.customCapabilities),
            connectionSettingsStatusJSON: json(ConnectionSettingsStatus.self, state.row.connectionSettingsStatus),
            componentsHash: state.row.componentsHash,
            owner: state.row.owner,
            history: history,
            historyComplete: complete)
    }

    private func summary(_ state: AgentState) -> AgentSummary {
        AgentSummary(
            instanceUID: state.row.uid, connected: state.row.connected, firstSeen: state.row.firstSeen,
            lastSeen: state.row.lastSeen, attributes: BoundedRendering.attributes(state.attributes),
            capabilities: UInt64(bitPattern: state.row.capabilities),
            effectiveConfigHash: state.row.effectiveConfigHash,
            remoteConfigStatus: state.row.remoteConfigStatus == nil
                ? nil : (state.remoteHash, state.remoteStatus.apiName, state.remoteError),
            healthy: state.healthy, desiredConfigHash: state.desiredHash)
    }

    /// Stores a named config (YAML text) and returns its current version. Written to the
    /// database before it is acknowledged.
    public func putConfig(name: String, body: [UInt8], contentType: String = "text/yaml") throws(FleetError)
        -> ConfigRow
    {
        guard Self.isValidName(name) else {
            throw FleetError(
                .invalid, "invalid_name",
                "config names are 1-128 characters of letters, digits, '.', '_' and '-', and not '.' or '..'")
        }
        guard !body.isEmpty else { throw FleetError(.invalid, "empty_config", "the config body is empty") }
        guard body.count <= options.maxConfigBytes else {
            throw FleetError(.invalid, "config_too_large", "the config is larger than \(options.maxConfigBytes) bytes")
        }
        guard String(validating: body, as: UTF8.self) != nil else {
            throw FleetError(.invalid, "invalid_utf8", "the config is not valid UTF-8 text")
        }
        var file = AgentConfigFile()
        file.body = body
        file.contentType = contentType
        var map = AgentConfigMap()
        map.configMap[""] = file
        let hash = ConfigHash.hex(ConfigHash.of(map))
        let now = Clock.milliseconds()
        let previous = stateLock.withLock { configs[name] }
        if let previous, previous.hash == hash { return previous }
        let row = ConfigRow(name: name, hash: hash, version: (previous?.version ?? 0) + 1, updatedAt: now)
        do {
            try store.saveConfig(row, blob: BlobRow(hash: hash, kind: "config", body: map.serializedBytes()))
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the config was not stored: \(error.message)")
        }
        stateLock.withLock {
            configs[name] = row
            blobsSeen.insert(hash)
        }
        return row
    }

    /// Every named config.
    public func listConfigs() -> [ConfigRow] {
        stateLock.withLock { configs.values.sorted { $0.name < $1.name } }
    }

    /// Assigns the current version of config `name` to the agents `selector` (or `uids`)
    /// selects, and offers it to every connected one that accepts remote config.
    public func assign(config name: String, selector: [String: String], uids: [String] = []) throws(FleetError)
        -> AssignmentRow
    {
        var canonical: [String] = []
        for text in uids {
            guard let uid = InstanceUID(string: text) else {
                throw FleetError(.invalid, "invalid_uid", "\(text) is not a UUID")
            }
            canonical.append(uid.description)
        }
        guard let config = stateLock.withLock({ configs[name] }) else {
            throw FleetError(.notFound, "config_not_found", "no config named \(name)")
        }
        let now = Clock.milliseconds()
        let sequence = stateLock.withLock { (assignments.last?.sequence ?? 0) + 1 }
        var random = SystemRandomNumberGenerator()
        let id = String(format: "%016llx", random.next() as UInt64)
        let row = AssignmentRow(
            id: id, config: name, hash: config.hash, selector: selector, uids: canonical, sequence: sequence,
            createdAt: now)
        do {
            try store.saveAssignment(row)
        } catch {
            throw FleetError(.unavailable, "database_unavailable", "the assignment was not stored: \(error.message)")
        }
        var toPush: [InstanceUID] = []
        stateLock.withLock {
            assignments.append(row)
            let config = sharedConfig(row.hash)
            hotLock.withLock { hotAssignments.append((row, config)) }
            for uid in Array(agents.keys) where refreshDesired(uid) {
                if let state = agents[uid], state.row.connected, state.capabilities.contains(.acceptsRemoteConfig) {
                    toPush.append(uid)
                }
            }
        }
        requestPush(toPush)
        return row
    }

    private func requestPush(_ uids: [InstanceUID]) {
        guard !uids.isEmpty, let handler = onPush else { return }
        pendingCondition.withLock { metricsValue.pushesRequested += uids.count }
        // Past a few thousand, one broadcast per loop is cheaper than one mailbox message per agent.
        handler(uids.count > 2000 ? nil : uids)
    }

    /// Progress of an assignment: kept as agents change, so a poll costs no walk over the fleet.
    public func assignmentStatus(_ id: String) -> AssignmentStatus? {
        stateLock.withLock {
            guard let a = assignments.first(where: { $0.id == id }) else { return nil }
            var status = AssignmentStatus(assignment: a)
            let counts = progress[id] ?? ProgressCounts()
            status.targets = counts.targets
            status.applied = counts.applied
            status.applying = counts.applying
            status.failed = counts.failed
            status.pending = counts.targets - counts.applied - counts.applying - counts.failed
            return status
        }
    }

    /// Per assignment, how many capable agents it wins and how far they are (stateLock).
    private struct ProgressCounts {
        var targets = 0
        var applied = 0
        var applying = 0
        var failed = 0
    }
    private var progress: [String: ProgressCounts] = [:]

    /// Stores an agent's new state (stateLock held) and moves it between the counters kept
    /// alongside the inventory (connected agents, assignment progress).
    private func replace(_ uid: InstanceUID, _ before: AgentState?, with state: AgentState) {
        if let before { count(before, -1) }
        agents[uid] = state
        count(state, 1)
    }

    private func count(_ state: AgentState, _ delta: Int) {
        if state.row.connected { connectedCount += delta }
        guard let id = state.desiredAssignment, let hash = state.desiredHash,
            state.capabilities.contains(.acceptsRemoteConfig)
        else { return }
        progress[id, default: ProgressCounts()].targets += delta
        guard state.remoteHash == hash else { return }
        switch state.remoteStatus {
        case .applied: progress[id, default: ProgressCounts()].applied += delta
        case .applying: progress[id, default: ProgressCounts()].applying += delta
        case .failed: progress[id, default: ProgressCounts()].failed += delta
        default: break
        }
    }

    /// Letters, digits, '.', '_' and '-', not `.` or `..` (which a URL path would resolve away).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name != "." && name != ".."
            && name.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 95 || c == 45
            }
    }

    // MARK: Desired configs

    /// Recomputes which config `uid` should run (stateLock held); returns true when it changed.
    @discardableResult
    private func refreshDesired(_ uid: InstanceUID) -> Bool {
        guard var state = agents[uid] else { return false }
        let winner = assignments.last { a in
            a.uids.isEmpty ? AgentState.matches(state.attributes, a.selector) : a.uids.contains(state.row.uid)
        }
        let hash = winner?.hash
        let id = winner?.id
        guard state.desiredHash != hash || state.desiredAssignment != id else { return false }
        let changed = state.desiredHash != hash
        let before = state
        state.desiredHash = hash
        state.desiredAssignment = id
        replace(uid, before, with: state)
        let config = hash.flatMap { sharedConfig($0) }
        hotLock.withLock { hot[uid, default: HotEntry()].config = config }
        return changed
    }

    /// The pre-encoded remote config for a hash: built once, shared by every agent and reply.
    private func sharedConfig(_ hash: String) -> SharedRemoteConfig? {
        if let cached = shared[hash] { return cached }
        guard let blob = try? store.blob(hash: hash), let map = try? AgentConfigMap(serializedBytes: blob.body),
            let bytes = ConfigHash.bytes(hex: hash)
        else { return nil }
        var config = AgentRemoteConfig()
        config.config = map
        config.configHash = bytes
        let built = SharedRemoteConfig(config)
        shared[hash] = built
        return built
    }
}
