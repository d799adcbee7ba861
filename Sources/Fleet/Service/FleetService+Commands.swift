import Core

/// What an operator can tell a connected agent to do (the gateway delivers it).
public enum AgentCommandKind: String, Sendable, CaseIterable {
    /// Restart (only agents with `AcceptsRestartCommand`).
    case restart
    /// Report its full state.
    case reportFullState
    /// Take its desired config again (a drifted agent).
    case reconcile
    /// Close its connection; it reconnects by itself.
    case disconnect
}

/// Where a command for many agents went.
public struct CommandOutcome: Sendable {
    /// Agents it was sent to.
    public var sent = 0
    /// Agents it was not sent to, with why (the first thousand).
    public var skipped: [(uid: String, reason: String)] = []
    /// How many were skipped in all.
    public var skippedTotal = 0
}

extension FleetService {
    /// Delivers a command to a connected agent's connection; set by the server's wiring.
    public var onCommand: (@Sendable (InstanceUID, AgentCommandKind) -> Bool)? {
        get { control.withLock { $0.commandHandler } }
        set { control.withLock { $0.commandHandler = newValue } }
    }

    /// Sends `kind` to agent `uid`; throws 404 for an unknown agent and 409 when it cannot take it
    /// (not connected, not over WebSocket to this server, or no `AcceptsRestartCommand`).
    public func command(_ kind: AgentCommandKind, to uid: InstanceUID) throws(FleetError) {
        guard let agent = inventory.agent(uid) else {
            throw FleetError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        if let why = refusal(kind, connected: agent.row.connected, agent.capabilities) {
            throw FleetError(.conflict, "command_refused", why)
        }
        if let owner = peer(holding: agent), forward(.command, uids: [uid], body: kind.rawValue, to: owner) {
            options.log("fleet: \(kind.rawValue) for \(uid) handed to instance \(owner)")
            return
        }
        guard let deliver = onCommand, deliver(uid, kind) else {
            throw FleetError(
                .conflict, "command_refused",
                "\(uid) is not connected to this server (a plain-HTTP agent takes commands in its next poll, but "
                    + "has no connection to close, and at most 16 may wait)")
        }
        options.log("fleet: \(kind.rawValue) sent to \(uid)")
    }

    /// Sends `kind` to every agent `selector` matches; the others are reported with why.
    public func command(_ kind: AgentCommandKind, selector: [String: String]) -> CommandOutcome {
        var outcome = CommandOutcome()
        let deliver = onCommand
        var elsewhere: [String: [InstanceUID]] = [:]
        let clustered = cluster != nil
        for (uid, connected, capabilities, owner) in inventory.matching(selector) {
            var reason = refusal(kind, connected: connected, capabilities)
            if reason == nil && clustered && owner != options.instance && !owner.isEmpty {
                // Handed to the instance holding it below, one action per instance.
                elsewhere[owner, default: []].append(uid)
                continue
            }
            if reason == nil && deliver?(uid, kind) != true {
                reason = "not connected to this server (or a plain-HTTP agent with 16 commands waiting)"
            }
            if let reason {
                outcome.skippedTotal += 1
                if outcome.skipped.count < 1000 { outcome.skipped.append((uid.description, reason)) }
            } else {
                outcome.sent += 1
            }
        }
        for (owner, uids) in elsewhere {
            if forward(.command, uids: uids, body: kind.rawValue, to: owner) {
                outcome.sent += uids.count
            } else {
                outcome.skippedTotal += uids.count
                for uid in uids.prefix(max(0, 1000 - outcome.skipped.count)) {
                    outcome.skipped.append((uid.description, "held by instance \(owner), which could not be told"))
                }
            }
        }
        options.log("fleet: \(kind.rawValue) sent to \(outcome.sent) agents, \(outcome.skippedTotal) skipped")
        return outcome
    }

    private func refusal(_ kind: AgentCommandKind, connected: Bool, _ capabilities: AgentCapabilities) -> String? {
        guard connected else { return "not connected" }
        if kind == .restart && !capabilities.contains(.acceptsRestartCommand) {
            return "does not accept restart commands (no AcceptsRestartCommand)"
        }
        return nil
    }
}
