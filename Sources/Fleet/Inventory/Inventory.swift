import Core
import Synchronization

/// Where an agent's state lives: every agent's `AgentState`, the counters kept alongside, and
/// (through `hot`) the seeds and desired configs the event loops read. The ingest thread
/// applies changes here; operator calls read here.
final class Inventory: Sendable {
    /// What one ingest pass produced for the writer and the loop-facing table.
    struct Applied {
        var rows: [InstanceUID: AgentRow] = [:]
        var touches: [InstanceUID: Int64] = [:]
        var blobs: [BlobRow] = []
        var history: [HistoryRow] = []
        var held: [(InstanceUID, SessionSeed)] = []
        var agentsKnown = 0
        /// Changes not applied: the end of a connection whose agent another instance holds now.
        var fenced = 0
    }

    let state: Mutex<InventoryState>
    /// The state's count of agents held here, readable without its lock.
    let heldMirror: HeldCount
    /// The loop-facing seeds and desired configs.
    let hot: HotTable
    let catalogue: ConfigCatalogue
    let assignments: Assignments
    let labels: AgentLabels
    let instance: String
    /// This process's epoch: with `instance` and a connection's start, the claim its rows carry.
    private let epoch: Int64
    private let lastSeenWriteInterval: Int64

    /// An inventory of `rows` as loaded at start; agents `instance` held are disconnected now.
    init(
        rows: [AgentRow], instance: String, epoch: Int64 = 0, lastSeenWriteInterval: Int64, hot: HotTable,
        catalogue: ConfigCatalogue, assignments: Assignments, labels: AgentLabels,
        componentSets: [String: Set<String>] = [:], now: Int64 = 0
    ) {
        self.labels = labels
        self.hot = hot
        self.catalogue = catalogue
        self.assignments = assignments
        self.instance = instance
        self.epoch = epoch
        self.lastSeenWriteInterval = lastSeenWriteInterval
        let initial = InventoryState()
        heldMirror = initial.heldMirror
        state = Mutex(initial)
        let current = assignments.all
        state.withLock { s in
            s.instance = instance
            s.componentSets = componentSets
            for row in rows {
                guard let uid = InstanceUID(string: row.uid) else { continue }
                var agent = AgentState(row: row)
                if agent.row.owner == instance { agent.row.connected = false }
                if let from = row.rolledBackFrom { s.rolledBackAtLoad[uid] = from }
                s.replace(uid, nil, with: agent)
            }
            // By position: a refresh changes states in place, never which agents there are.
            var position = s.agents.startIndex
            while position != s.agents.endIndex {
                refreshDesired(&s, at: position, current, now: now)
                s.agents.formIndex(after: &position)
            }
            for (uid, agent) in s.agents { hot.update(uid) { $0.seed(agent.seed) } }
        }
    }

    /// Applies messages and heartbeats received by `now`.
    func ingest(_ prepared: [PreparedChange], beats: [InstanceUID], now: Int64) -> Applied {
        var out = Applied()
        out.rows.reserveCapacity(prepared.count)
        state.withLock { s in
            // Read under the inventory lock: an assignment added after this read refreshes
            // every agent (new ones included) once this pass has let go of the lock.
            let current = assignments.all
            for change in prepared {
                guard let uid = change.change.instanceUID else { continue }
                guard var row = apply(&s, change, uid: uid, now: now, current, &out) else { continue }
                if out.rows[uid]?.isNew == true { row.isNew = true }
                out.rows[uid] = row
                out.touches[uid] = nil
            }
            for uid in beats {
                // In place, by index: comparing `agents[uid]` with nil, or taking the state out and
                // putting it back, copies it (and retains all it holds) per heartbeat.
                guard let index = s.agents.index(forKey: uid) else { continue }
                s.seen(at: index, now: now)
                if out.rows.index(forKey: uid) != nil {
                    // Written with the row this batch holds (apply set seenWritten already).
                    out.rows[uid]?.lastSeen = now
                } else if now - s.agents.values[index].seenWritten >= lastSeenWriteInterval {
                    out.touches[uid] = now
                    s.agents.values[index].seenWritten = now
                }
            }
            out.agentsKnown = s.agents.count
        }
        return out
    }

    /// Applies one message; returns the new snapshot (nil: not applied, see `Applied.fenced`).
    /// The agent's state is changed in place (see `InventoryState.update(at:_:)`).
    private func apply(
        _ s: inout InventoryState, _ prepared: PreparedChange, uid: InstanceUID, now: Int64,
        _ current: [Assignments.Entry], _ out: inout Applied
    ) -> AgentRow? {
        let change = prepared.change
        var found = s.agents.index(forKey: uid)
        let isNew = found == nil
        if isNew {
            s.replace(uid, nil, with: AgentState(row: AgentRow(uid: uid.description)))
            found = s.agents.index(forKey: uid)
        }
        guard let position = found else { return nil }
        if let hash = prepared.componentsHash, let names = prepared.componentNames, s.componentSets[hash] == nil {
            s.componentSets[hash] = names
        }
        let instance = self.instance
        let epoch = self.epoch
        let catalogue = self.catalogue
        var rolledBack: ConfigTrack?
        let outcome = s.update(at: position) {
            state -> (row: AgentRow, seed: SessionSeed?, refresh: Bool, recheck: Bool)? in
            // Another instance's newer connection holds the agent (docs/ARCHITECTURE.md, "Several
            // instances"): the end of this instance's older one changes nothing, while a message
            // heard here now (a plain-HTTP agent's poll, which may land on any instance) claims it back.
            let foreign = !isNew && state.row.owner != instance && !state.row.owner.isEmpty
            if foreign && change.disconnected && !change.connected { return nil }
            if isNew { state.row.firstSeen = now }
            state.row.lastSeen = now
            let seedBefore = state.seed
            var describe = false
            func event(_ kind: String, _ detail: String, _ uid: String) {
                out.history.append(HistoryRow(uid: uid, at: now, kind: kind, detail: detail))
            }
            if change.connected || foreign {
                state.row.connected = true
                state.row.owner = instance
                // A newer claim than any other instance's for an older connection of the agent.
                state.row.fence = epoch
                state.row.claimedAt = max(now, state.row.claimedAt + (foreign ? 1 : 0))
                if change.connected { event("connected", isNew ? "first connection" : "reconnected", state.row.uid) }
                if state.track != nil { ConfigStateMachine.connected(&state.track!, now: now) }
            }
            if let caps = change.capabilities { state.row.capabilities = Int64(bitPattern: caps.rawValue) }
            if let bytes = prepared.descriptionBytes, let attributes = prepared.attributes {
                state.row.description = bytes
                if !isNew && !attributes.elementsEqual(state.attributes, by: { $0 == $1 }) {
                    event("description_changed", "\(attributes.count) attributes", state.row.uid)
                }
                state.attributes = attributes
                describe = true
            }
            if let health = change.health {
                state.row.health = prepared.healthBytes
                if state.healthy != health.healthy {
                    let detail =
                        health.healthy
                        ? "healthy" : "unhealthy" + (health.lastError.isEmpty ? "" : ": \(health.lastError)")
                    if state.healthy != nil || !health.healthy { event("health_changed", detail, state.row.uid) }
                }
                state.healthy = health.healthy
            }
            if let hash = prepared.effectiveHash, let body = prepared.effectiveBody {
                if state.row.effectiveConfigHash != hash {
                    if state.row.effectiveConfigHash != nil { event("effective_config_changed", hash, state.row.uid) }
                    state.row.effectiveConfigHash = hash
                }
                if catalogue.noteBlob(hash) { out.blobs.append(BlobRow(hash: hash, kind: "config", body: body)) }
            }
            if let remote = change.remoteConfigStatus, let hash = prepared.remoteHash {
                state.row.remoteConfigStatus = prepared.remoteBytes
                if hash != state.remoteHash || remote.status != state.remoteStatus
                    || remote.errorMessage != state.remoteError
                {
                    let error = remote.errorMessage.isEmpty ? "" : ": \(remote.errorMessage)"
                    event("remote_config_status_changed", "\(remote.status.apiName) \(hash)\(error)", state.row.uid)
                }
                // The row remembers a rollback only while the agent reports the config it went back to.
                if state.row.rolledBackFrom != nil && (hash != state.remoteHash || remote.status != .applied) {
                    state.row.rolledBackFrom = nil
                }
                state.setRemote(remote, hash: hash)
                if state.track != nil {
                    let was = state.track!.state
                    ConfigStateMachine.report(
                        &state.track!, hash: hash, status: remote.status, error: remote.errorMessage, now: now)
                    let track = state.track!
                    if track.state != was, track.state == .rolledBack || track.state == .drifted {
                        event("config_" + track.state.rawValue.lowercased(), track.message, state.row.uid)
                    }
                    if track.state != was, track.state == .rolledBack {
                        rolledBack = track
                        state.row.rolledBackFrom = track.target
                    }
                }
            }
            if let packages = prepared.packagesBytes { state.row.packageStatuses = packages }
            var componentsChanged = false
            if let hash = prepared.componentsHash {
                componentsChanged = state.row.componentsHash != hash
                state.row.componentsHash = hash
                if let body = prepared.componentsBody, catalogue.noteBlob("components:" + hash) {
                    out.blobs.append(BlobRow(hash: "components:" + hash, kind: "components", body: body))
                }
            }
            if let custom = prepared.customBytes { state.row.customCapabilities = custom }
            if let settings = prepared.settingsBytes { state.row.connectionSettingsStatus = settings }
            if change.resolvedDuplicate, let fresh = change.assignedInstanceUID {
                event("duplicate_uid", "a second live connection used this uid; it was given \(fresh)", state.row.uid)
            }
            if change.disconnected {
                state.row.connected = false
                event("disconnected", "", state.row.uid)
                if state.track != nil { ConfigStateMachine.disconnected(&state.track!, now: now) }
            }
            state.seenWritten = now
            var row = state.row
            row.isNew = isNew
            let seed = state.seed
            return (row, seed == seedBefore ? nil : seed, describe || isNew || componentsChanged, componentsChanged)
        }
        guard let outcome else {
            out.fenced += 1
            return nil
        }
        if let rolledBack { hot.update(uid) { $0.config = offered(rolledBack.target, rolledBack, shared: nil) } }
        if outcome.refresh { refreshDesired(&s, at: position, current, now: now, recheck: outcome.recheck) }
        if let seed = outcome.seed { out.held.append((uid, seed)) }
        return outcome.row
    }
}
