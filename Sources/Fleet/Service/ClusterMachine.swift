/// This instance's standing among the servers sharing one PostgreSQL, from the outcomes of its
/// heartbeats: whether it leads (does the cluster's periodic work) and whether it may hold
/// agents. Pure and clock-injected: `ClusterThread` runs the SQL and hands it what happened.
struct ClusterMachine: Sendable {
    /// What the driver does after a step.
    enum Effect: Equatable, Sendable {
        /// Start the periodic work, under this fencing token.
        case lead(token: Int64)
        /// Stop it: another instance may lead now.
        case stepDown
        /// The database was out of reach past the grace (or another process took this id):
        /// close the agents (1001) and admit none, since their rows cannot be fenced.
        case release
        /// The database is back: admit agents again.
        case admit
        /// This instance's heartbeat was older than two leases for a while: the leader may have
        /// shown its agents disconnected. Write the rows of the agents it holds again.
        case reassert
    }

    let leaseMilliseconds: Int64
    let graceMilliseconds: Int64
    /// The tenure's token while leading.
    private(set) var token: Int64?
    private(set) var lastContact: Int64
    private(set) var released = false
    /// Another process registered under this instance's id: this one only winds down.
    private(set) var superseded = false
    /// Whether other instances were alive at the last contact: alone, an instance keeps its
    /// agents through an outage (no other could record them either).
    private(set) var peers = false

    init(leaseMilliseconds: Int64, graceMilliseconds: Int64, now: Int64) {
        self.leaseMilliseconds = leaseMilliseconds
        self.graceMilliseconds = graceMilliseconds
        lastContact = now
    }

    /// True when the driver should draw a leadership token after this contact: the lock is
    /// held and no tenure is running.
    func needsToken(holdsLock: Bool) -> Bool { holdsLock && token == nil && !superseded }

    /// A heartbeat reached the database. `holdsLock`: this session holds the leadership lock;
    /// `newToken`: the tenure's token, drawn when `needsToken` said so; `ownRow`: the heartbeat
    /// found this process's registration (false: a newer process took the id); `committed`: when
    /// the heartbeat `now` was written had returned (a busy database or a starved thread
    /// can hold it back for longer than the lease).
    mutating func contact(
        now: Int64, holdsLock: Bool, newToken: Int64?, ownRow: Bool, peers: Bool = true, committed: Int64? = nil
    ) -> [Effect] {
        var effects: [Effect] = []
        self.peers = peers
        if !ownRow || superseded {
            superseded = true
            if token != nil {
                token = nil
                effects.append(.stepDown)
            }
            if !released {
                released = true
                effects.append(.release)
            }
            return effects
        }
        // Until this heartbeat, the database showed the previous one: past two leases a leader
        // releases an instance's agents. Half a lease of margin for the clocks of two machines.
        let stale = (committed ?? now) - lastContact > 2 * leaseMilliseconds - leaseMilliseconds / 2
        lastContact = now
        if released {
            released = false
            effects.append(.admit)
        }
        if stale { effects.append(.reassert) }
        if holdsLock, token == nil, let newToken {
            token = newToken
            effects.append(.lead(token: newToken))
        } else if !holdsLock, token != nil {
            token = nil
            effects.append(.stepDown)
        }
        return effects
    }

    /// A heartbeat failed (the database is unreachable or the session broke, which freed the
    /// lock). Past the grace, with peers to take them, the agents are released.
    mutating func silence(now: Int64) -> [Effect] {
        var effects: [Effect] = []
        if token != nil {
            token = nil
            effects.append(.stepDown)
        }
        if !released, peers, now - lastContact > graceMilliseconds {
            released = true
            effects.append(.release)
        }
        return effects
    }
}
