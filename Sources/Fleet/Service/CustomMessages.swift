import Core
import Synchronization

/// A custom message an agent sent, for a capability this server announced.
public struct ReceivedCustomMessage: Sendable, Equatable {
    /// Milliseconds since the Unix epoch, when the fleet took it in.
    public var at: Int64
    /// The capability (reverse-FQDN name, optionally `/version`).
    public var capability: String
    /// The message type within the capability.
    public var type: String
    /// The payload, at most `CustomMessageLog.maxDataBytes` of it.
    public var data: [UInt8]
    /// The payload's size as sent.
    public var size: Int
}

/// The last custom messages each agent sent, in memory: they are conversations with a live
/// agent, not state to keep across restarts. Bounded per agent, per message and in agents, so
/// that a fleet chatting on a capability cannot grow the server without end.
final class CustomMessageLog: Sendable {
    static let perAgent = 16
    static let maxDataBytes = 64 << 10
    static let maxAgents = 100_000

    private struct State {
        var messages: [InstanceUID: [ReceivedCustomMessage]] = [:]
        /// Agents in the order they first sent, to let the oldest go past `maxAgents`.
        var order: [InstanceUID] = []
        var head = 0
    }

    private let state = Mutex(State())

    func record(_ message: CustomMessage, from uid: InstanceUID, at: Int64) {
        let kept = ReceivedCustomMessage(
            at: at, capability: message.capability, type: message.type,
            data: Array(message.data.prefix(Self.maxDataBytes)), size: message.data.count)
        state.withLock { s in
            if s.messages[uid] == nil {
                s.order.append(uid)
                while s.messages.count >= Self.maxAgents, s.head < s.order.count {
                    s.messages[s.order[s.head]] = nil
                    s.head += 1
                }
                if s.head > s.order.count / 2 {
                    s.order.removeFirst(s.head)
                    s.head = 0
                }
            }
            var list = s.messages[uid, default: []]
            list.append(kept)
            if list.count > Self.perAgent { list.removeFirst(list.count - Self.perAgent) }
            s.messages[uid] = list
        }
    }

    /// Newest first.
    func messages(of uid: InstanceUID) -> [ReceivedCustomMessage] {
        state.withLock { $0.messages[uid] ?? [] }.reversed()
    }
}

// Custom messages (OpAMP's CustomCapabilities/CustomMessage): operators send them to agents
// and read the ones agents sent.
extension FleetService {
    /// Delivers a custom message to a connected agent's connection; set by the server's wiring.
    public var onCustomMessage: (@Sendable (InstanceUID, CustomMessage) -> Bool)? {
        get { control.withLock { $0.customMessageHandler } }
        set { control.withLock { $0.customMessageHandler = newValue } }
    }

    /// Sends a custom message to agent `uid`: 404 for an unknown agent, 409 when it did not
    /// announce the capability or is not connected to this server (a plain-HTTP agent gets it
    /// in its next poll).
    public func sendCustomMessage(_ message: CustomMessage, to uid: InstanceUID) throws(FleetError) {
        guard let agent = inventory.agent(uid) else {
            throw FleetError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        guard agent.row.connected else {
            throw FleetError(.conflict, "custom_message_refused", "\(uid) is not connected")
        }
        let announced =
            agent.row.customCapabilities.flatMap { try? CustomCapabilities(serializedBytes: $0) }?.capabilities ?? []
        guard announced.contains(message.capability) else {
            let list = announced.isEmpty ? "none" : announced.joined(separator: ", ")
            throw FleetError(
                .conflict, "custom_message_refused",
                "\(uid) did not announce the capability \(message.capability) (it announced: \(list))")
        }
        if let owner = peer(holding: agent),
            forward(.custom, uids: [uid], body: ConfigHash.hex(message.serializedBytes()), to: owner)
        {
            options.log("fleet: custom message \(message.capability)/\(message.type) for \(uid) handed to \(owner)")
            return
        }
        guard let deliver = onCustomMessage, deliver(uid, message) else {
            throw FleetError(
                .conflict, "custom_message_refused",
                "\(uid) is not connected to this server (or, polling over plain HTTP, has 16 messages waiting)")
        }
        options.log("fleet: custom message \(message.capability)/\(message.type) sent to \(uid)")
    }

    /// The last custom messages agent `uid` sent (newest first); nil for an unknown agent.
    public func receivedCustomMessages(of uid: InstanceUID) -> [ReceivedCustomMessage]? {
        guard inventory.agent(uid) != nil else { return nil }
        return customMessages.messages(of: uid)
    }
}
