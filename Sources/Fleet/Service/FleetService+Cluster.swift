import Core

/// One server instance as the operator API shows it.
public struct InstanceInfo: Sendable, Equatable {
    /// `--instance-id`.
    public var id: String
    /// Its agent listener.
    public var address: String
    /// Milliseconds since the Unix epoch.
    public var startedAt: Int64
    /// Milliseconds since the Unix epoch.
    public var lastHeartbeat: Int64
    /// Agents its connections held at its last heartbeat.
    public var agents: Int64
    /// Does the cluster's periodic work.
    public var leader: Bool
    /// Its heartbeat is younger than two leader leases.
    public var alive: Bool
}

extension FleetService {
    /// Every instance registered in the database (blocking: call it off the async executor).
    public func instances() throws(StoreError) -> [InstanceInfo] {
        let now = options.clock()
        let leader = try store.leader()
        let rows = try store.instances()
        let alone = cluster == nil
        return rows.map { row in
            let own = row.id == options.instance && row.epoch == epoch
            // Alone (SQLite, or no cluster session), this process is the one that beats: its
            // row's heartbeat is its start.
            let alive = own || now - row.lastHeartbeat < 2 * options.leaderLeaseMilliseconds
            let leading = alone ? own : (row.id == leader.instance && alive)
            return InstanceInfo(
                id: row.id, address: row.address, startedAt: row.startedAt,
                lastHeartbeat: own && alone ? now : row.lastHeartbeat,
                agents: own ? Int64(inventory.held) : row.agents, leader: leading, alive: alive)
        }
    }
}

// Operator actions for agents another instance holds, and changes every instance must take
// (docs/ARCHITECTURE.md, "Several instances"): posted in `cluster_actions`, pointed at by a
// notification, carried out by the receiving instance's `PeerFeed`.
extension FleetService {
    /// The instance holding `agent` when it is another one (nil: this one, or none).
    func peer(holding agent: AgentState) -> String? {
        guard cluster != nil, agent.row.connected, !agent.row.owner.isEmpty, agent.row.owner != options.instance
        else { return nil }
        return agent.row.owner
    }

    /// Hands an action to instance `target` (`*`: every other); false without peers, or when the
    /// database refused it.
    @discardableResult
    func forward(_ kind: ClusterActionKind, uids: [InstanceUID] = [], body: String = "", to target: String) -> Bool {
        // Actions travel by PostgreSQL's NOTIFY: only a store of several instances has them.
        guard cluster != nil, let store = store as? PostgresStore else { return false }
        let action = ClusterActionRow(
            sender: options.instance, target: target, kind: kind.rawValue, uids: uids.map(\.description), body: body)
        do throws(StoreError) {
            try store.post(action, now: options.clock())
            return true
        } catch {
            options.log("cluster: \(kind) for \(target) not sent: \(error.message)")
            return false
        }
    }

    /// Tells every other instance that configs, assignments or groups changed.
    func announceCatalogue() {
        forward(.catalogue, to: "*")
    }

    /// Carries out an action another instance sent this one.
    func perform(_ action: ClusterActionRow) {
        let uids = action.uids.compactMap(InstanceUID.init(string:))
        let handlers = control.withLock { $0 }
        switch ClusterActionKind(rawValue: action.kind) {
        case .command?:
            guard let kind = AgentCommandKind(rawValue: action.body), let deliver = handlers.commandHandler else {
                return
            }
            let sent = uids.filter { deliver($0, kind) }.count
            options.log("fleet: \(kind.rawValue) from \(action.sender) sent to \(sent) of \(uids.count) agents")
        case .custom?:
            guard let bytes = ConfigHash.bytes(hex: action.body),
                let message = try? CustomMessage(serializedBytes: bytes), let deliver = handlers.customMessageHandler
            else { return }
            for uid in uids { _ = deliver(uid, message) }
        case .revoke?:
            certificates.reloadRevoked()
            for uid in uids { handlers.disconnectHandler?(uid) }
        case .identities?:
            identities.reload(uids)
        case .tokens?:
            enrollment.refresh()
            operatorTokens.refresh()
        case .labels?:
            do throws(StoreError) {
                try inventory.labels.reload(uids)
                requestPush(inventory.refresh(uids, now: options.clock()))
            } catch {
                options.log("cluster: the labels of \(uids.count) agents were not read: \(error.message)")
            }
        case .catalogue?:
            reloadCatalogue()
        case .rollouts?:
            reloadRollouts(action.body)
        case .certificates?:
            takeCertificates(uids)
        case nil:
            options.log("cluster: unknown action \(action.kind) from \(action.sender) ignored")
        }
    }

    /// Takes the configs, assignments and groups other instances stored, and offers the agents
    /// this instance holds what they now want.
    func reloadCatalogue() {
        do throws(StoreError) {
            for row in try store.loadConfigs()
            where inventory.catalogue.config(named: row.name)?.version != row.version {
                inventory.catalogue.adopt(row)
            }
            let known = Set(inventory.assignments.all.map(\.row.id))
            let added = try store.loadAssignments().filter { !known.contains($0.id) }
            for row in added {
                inventory.catalogue.learnComponents(row.hash)
                inventory.assignments.append(Assignments.Entry(row: row, config: inventory.catalogue.shared(row.hash)))
            }
            let loaded = try store.loadGroups()
            groups.withLock { $0 = Dictionary(loaded.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
            // Assignments pin their config's hash: only a new one changes what an agent wants,
            // and only then is the whole fleet walked.
            if !added.isEmpty { inventory.refreshAll(now: options.clock()) { requestPush($0) } }
        } catch {
            options.log("cluster: configs and assignments of other instances not read: \(error.message)")
        }
    }
}
