import Core

// Rollouts: pins, the stall check and the counters the controller reads.
extension Inventory {
    /// Sets (or, with a nil pin, removes) rollout pins; returns the connected agents whose
    /// desired config changed (to push) and, for each pinned agent, the hash of the remote
    /// config it had applied before (what a rollback gives back). Unknown uids are skipped.
    func pin(_ pins: [(uid: InstanceUID, pin: RolloutPin?)], now: Int64) -> (
        push: [InstanceUID], previous: [InstanceUID: String]
    ) {
        var push: [InstanceUID] = []
        var previous: [InstanceUID: String] = [:]
        // In chunks, each under the lock once: a stage start pins up to the whole fleet, and
        // the ingest and readers of the counters go on in between.
        for start in stride(from: 0, to: pins.count, by: Self.pinChunk) {
            pinChunk(pins[start..<min(pins.count, start + Self.pinChunk)], now: now, &push, &previous)
        }
        return (push, previous)
    }

    static let pinChunk = 4096

    private func pinChunk(
        _ pins: ArraySlice<(uid: InstanceUID, pin: RolloutPin?)>, now: Int64, _ push: inout [InstanceUID],
        _ previous: inout [InstanceUID: String]
    ) {
        state.withLock { s in
            let current = assignments.all
            for (uid, pin) in pins {
                // In place: a stage start pins up to every agent of the fleet.
                guard let position = s.agents.index(forKey: uid), s.peek(at: position, { $0.pin != pin }) else {
                    continue
                }
                let (ran, reachable) = s.update(at: position) { agent in
                    agent.pin = pin
                    let ran = agent.remoteStatus == .applied && !agent.remoteHash.isEmpty ? agent.remoteHash : nil
                    return (ran, agent.row.connected && agent.capabilities.contains(.acceptsRemoteConfig))
                }
                if let ran { previous[uid] = ran }
                if refreshDesired(&s, at: position, current, now: now), reachable { push.append(uid) }
            }
        }
    }

    /// Agents still `APPLYING` past the apply timeout become `STALLED`; returns how many did.
    /// Looks only at the deadlines that passed since the last call.
    func expireStalled(now: Int64) -> Int {
        state.withLock { s in
            let slot = now / 100
            let due = s.applyDeadlines.keys.filter { $0 <= slot }
            var stalled = 0
            for key in due {
                for uid in s.applyDeadlines.removeValue(forKey: key) ?? [] {
                    let timeout = s.applyTimeout
                    guard let position = s.agents.index(forKey: uid),
                        var track = s.peek(at: position, { $0.track }),
                        ConfigStateMachine.expire(&track, now: now, timeout: timeout)
                    else { continue }
                    s.update(at: position) { $0.track = track }
                    stalled += 1
                }
            }
            return stalled
        }
    }

    /// How the agents of each stage of `rollout` stand.
    func rolloutCounts(_ rollout: String) -> [Int: StageCounts] {
        state.withLock { $0.rollouts[rollout] ?? [:] }
    }

    /// Agents per config state over the fleet.
    var configStateCounts: [ConfigState: Int] {
        state.withLock { $0.configStates }
    }

    /// Agents per config state for each of `hashes` (the agents tracked towards that hash);
    /// hashes no agent is tracked towards are left out.
    func configStateCounts(targets hashes: [String]) -> [String: [ConfigState: Int]] {
        state.withLock { s in
            var out: [String: [ConfigState: Int]] = [:]
            for hash in hashes { out[hash] = s.configStatesByTarget[hash] }
            return out
        }
    }

    /// Sets how long an agent may stay `APPLYING` before it is `STALLED`.
    func setApplyTimeout(_ milliseconds: Int64) {
        state.withLock { $0.applyTimeout = milliseconds }
    }

    /// The agents a target selects that can take remote config, with their attributes and
    /// labels when `keep` (for stage selectors): one pass over the fleet, when a rollout is created.
    func targets(_ selector: [String: String]?, uids: [InstanceUID]?, attributes keep: Bool) -> [(
        uid: InstanceUID, attributes: [(key: String, value: String)]
    )] {
        // A million-agent target is walked under the inventory's lock: no array is built per
        // agent unless the stages need attributes, or the selector names a server-side label.
        let selector = selector ?? [:]
        let labelled = selector.keys.contains { $0.hasPrefix(AgentLabels.selectorPrefix) }
        return state.withLock { s in
            if let uids {
                return uids.compactMap { uid in
                    guard let agent = s.agents[uid], agent.capabilities.contains(.acceptsRemoteConfig) else {
                        return nil
                    }
                    return (uid, keep ? agent.attributes + labels.selectorPairs(uid) : [])
                }
            }
            var out: [(uid: InstanceUID, attributes: [(key: String, value: String)])] = []
            // By index, reading fields in place: taking each agent out of the dictionary copies
            // it, retaining every object it holds, and at a million agents those are cold.
            for index in s.agents.indices {
                guard s.agents.values[index].capabilities.contains(.acceptsRemoteConfig) else { continue }
                let uid = s.agents.keys[index]
                if !keep && selector.isEmpty {
                    out.append((uid, []))
                    continue
                }
                let own = s.agents.values[index].attributes
                let attributes = keep || labelled ? own + labels.selectorPairs(uid) : own
                if AgentState.matches(attributes, selector) { out.append((uid, keep ? attributes : [])) }
            }
            return out
        }
    }
}

extension Inventory {
    /// Those of `uids` whose desired config is still pinned by `rollout`.
    func pinnedBy(_ rollout: String, among uids: [InstanceUID]) -> [InstanceUID] {
        state.withLock { s in uids.filter { s.agents[$0]?.pin?.rollout == rollout } }
    }
}
