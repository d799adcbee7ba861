import Core

extension Inventory {
    /// Recomputes which config `uid` should run; returns true when its hash changed.
    /// A rollout's pin wins over the assignments. `recheck` builds the track again (the agent's
    /// components changed). A config that uses components the agent lacks is not sent.
    @discardableResult
    func refreshDesired(
        _ s: inout InventoryState, _ uid: InstanceUID, _ current: [Assignments.Entry], now: Int64,
        recheck: Bool = false
    ) -> Bool {
        guard let position = s.agents.index(forKey: uid) else { return false }
        return refreshDesired(&s, at: position, current, now: now, recheck: recheck)
    }

    /// `refreshDesired` for the agent at `position` of `agents`, found by the caller already.
    @discardableResult
    func refreshDesired(
        _ s: inout InventoryState, at position: Dictionary<InstanceUID, AgentState>.Index,
        _ current: [Assignments.Entry], now: Int64, recheck: Bool = false
    ) -> Bool {
        let uid = s.agents.keys[position]
        let labels = self.labels
        let (hash, id, shared, needsTrack, unchanged, componentsHash) = s.peek(at: position) { state in
            let hash: String?
            let id: String?
            var shared: SharedRemoteConfig?
            if let pin = state.pin {
                (hash, id) = (pin.hash, nil)
            } else {
                let winner = Assignments.winner(
                    in: current, attributes: state.attributes + labels.selectorPairs(uid), uid: state.row.uid)
                (hash, id) = (winner?.row.hash, winner?.row.id)
                shared = winner?.config
            }
            let needsTrack =
                hash != nil && state.track == nil && state.capabilities.contains(.acceptsRemoteConfig)
            let unchanged = state.desiredHash == hash && state.desiredAssignment == id
            return (hash, id, shared, needsTrack, unchanged, state.row.componentsHash)
        }
        guard !unchanged || needsTrack || recheck else { return false }
        var missing: [String] = []
        if let hash, let have = componentsHash.flatMap({ s.componentSets[$0] }),
            let needs = catalogue.usedComponents(hash)
        {
            missing = needs.subtracting(have).sorted()
        }
        let fromBeforeLoad = s.rolledBackAtLoad.isEmpty ? nil : s.rolledBackAtLoad[uid]
        let (changed, track) = s.update(at: position) { state in
            let changed = state.desiredHash != hash
            state.desiredHash = hash
            state.desiredAssignment = id
            if changed || needsTrack || recheck {
                let running = state.row.remoteConfigStatus == nil ? nil : (state.remoteHash, state.remoteStatus)
                let capable = state.capabilities.contains(.acceptsRemoteConfig)
                let connected = state.row.connected
                state.track = hash.flatMap { target in
                    guard capable else { return nil }
                    // Unless the agent reported another config since the load (which cleared the row's).
                    let from = state.row.rolledBackFrom == fromBeforeLoad ? fromBeforeLoad : nil
                    var track = ConfigStateMachine.target(
                        target, running: running, connected: connected, now: now, rolledBackFrom: from)
                    if !missing.isEmpty { ConfigStateMachine.incompatible(&track, missing: missing, now: now) }
                    return track
                }
            }
            return (changed, state.track)
        }
        if fromBeforeLoad != nil, track?.state == .rolledBack { s.rolledBackAtLoad[uid] = nil }
        let config = missing.isEmpty ? hash.flatMap { offered($0, track, shared: shared) } : nil
        hot.update(uid) { $0.config = config }
        return changed && missing.isEmpty
    }

    /// The config offered to an agent that should run `hash`. An agent that rolled back from it
    /// is offered what it went back to (nil: that config is not ours), so the offer matches what
    /// it reports: the protocol makes a server resend its config to an agent reporting another
    /// hash, and a Supervisor given the failing one again would fail and roll back in a loop.
    func offered(_ hash: String, _ track: ConfigTrack?, shared: SharedRemoteConfig?) -> SharedRemoteConfig? {
        if let track, track.target == hash, track.state == .rolledBack {
            return track.previous.flatMap { catalogue.shared($0) }
        }
        return shared ?? catalogue.shared(hash)
    }
}
