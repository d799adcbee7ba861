import Core

/// Where one agent stands with the config the fleet wants it to run.
public enum ConfigState: String, Sendable, CaseIterable {
    /// Targeted, not sent yet (the agent is not connected).
    case pending = "PENDING"
    /// Offered; the agent has not reported it applied (or failed) yet.
    case applying = "APPLYING"
    /// The agent reports the config applied.
    case applied = "APPLIED"
    /// The agent reports the config failed (with its message).
    case failed = "FAILED"
    /// The agent's build lacks a component the config uses (not sent).
    case incompatible = "INCOMPATIBLE"
    /// No outcome within the apply timeout.
    case stalled = "STALLED"
    /// The agent went back to the config it ran before, after failing this one (the
    /// Supervisor reports `FAILED` for the new hash, then `APPLIED` for the old one).
    case rolledBack = "ROLLED_BACK"
    /// The agent reports a config it was not given, or lost the one it was given.
    case drifted = "DRIFTED"
}

/// One agent's track of its desired config: what it should run, what it ran before, and
/// where it stands. A value changed only by `ConfigStateMachine`.
struct ConfigTrack: Equatable, Sendable {
    /// Hex hash of the desired config.
    var target: String
    /// Hex hash of the config the agent had applied when it was targeted (nil: none).
    var previous: String?
    var state: ConfigState
    /// When `state` was entered (milliseconds, the fleet's clock).
    var since: Int64
    /// The agent's error (`FAILED`), or the components it lacks (`INCOMPATIBLE`).
    var message: String = ""
}

/// The per-agent config state machine: pure, time passed in. Every transition of
/// docs/ARCHITECTURE.md's config-state diagram is one case here.
enum ConfigStateMachine {
    /// A new desired config. A connected agent is offered it at once (`APPLYING`); another
    /// gets it in its next first reply (`PENDING`). An agent already running it is `APPLIED`.
    /// `rolledBackFrom` is a config the agent failed and went back from before this server
    /// started (`AgentRow.rolledBackFrom`): while it still runs another, that one stays
    /// `ROLLED_BACK` instead of being offered again.
    static func target(
        _ hash: String, running: (hash: String, status: RemoteConfigStatuses)?, connected: Bool, now: Int64,
        rolledBackFrom: String? = nil
    ) -> ConfigTrack {
        let previous = running.flatMap { $0.status == .applied && !$0.hash.isEmpty ? $0.hash : nil }
        if let running, running.hash == hash, running.status == .applied {
            return ConfigTrack(target: hash, previous: nil, state: .applied, since: now)
        }
        if let previous, rolledBackFrom == hash {
            return ConfigTrack(
                target: hash, previous: previous, state: .rolledBack, since: now,
                message: "went back to \(previous) after failing this config (before the server restarted)")
        }
        return ConfigTrack(target: hash, previous: previous, state: connected ? .applying : .pending, since: now)
    }

    /// The agent lacks components the config uses: it is not sent.
    static func incompatible(_ track: inout ConfigTrack, missing: [String], now: Int64) {
        move(&track, .incompatible, now, message: "missing " + missing.joined(separator: ", "))
    }

    /// The agent connected: a pending config goes out in its first reply.
    static func connected(_ track: inout ConfigTrack, now: Int64) {
        if track.state == .pending { move(&track, .applying, now) }
    }

    /// The agent disconnected: what it was applying goes out again when it is back.
    static func disconnected(_ track: inout ConfigTrack, now: Int64) {
        if track.state == .applying { move(&track, .pending, now) }
    }

    /// The agent reported its remote config status.
    static func report(
        _ track: inout ConfigTrack, hash: String, status: RemoteConfigStatuses, error: String, now: Int64
    ) {
        if hash == track.target && !hash.isEmpty {
            switch status {
            case .applied: move(&track, .applied, now)
            case .failed: move(&track, .failed, now, message: error)
            case .applying:
                // Stays where the stall clock already runs; a recovered agent applies again.
                if track.state != .applying && track.state != .stalled { move(&track, .applying, now) }
            default: break
            }
            return
        }
        if let previous = track.previous, hash == previous {
            // Before it takes the offer an agent reports what it ran, which is not a rollback;
            // the same report after a failure of ours is.
            if status == .applied && track.state == .failed {
                move(&track, .rolledBack, now, message: track.message)
            }
            return
        }
        // Another config, or none, where ours had been applied.
        if track.state == .applied { move(&track, .drifted, now, message: hash.isEmpty ? "no remote config" : hash) }
    }

    /// `APPLYING` for longer than `timeout`: stalled.
    static func expire(_ track: inout ConfigTrack, now: Int64, timeout: Int64) -> Bool {
        guard track.state == .applying, now - track.since >= timeout else { return false }
        move(&track, .stalled, now)
        return true
    }

    private static func move(_ track: inout ConfigTrack, _ state: ConfigState, _ now: Int64, message: String = "") {
        track.state = state
        track.since = now
        track.message = message
    }
}
