import Synchronization

extension FleetService {
    /// Carries out a step of the cluster machine.
    func apply(_ effect: ClusterMachine.Effect) {
        switch effect {
        case .lead(let token):
            counters.update {
                $0.leader = true
                $0.leaderToken = token
            }
            options.log("cluster: this instance leads (token \(token))")
        case .stepDown:
            counters.update {
                $0.leader = false
                $0.leaderToken = 0
            }
            options.log("cluster: this instance no longer leads")
        case .release, .admit:
            let admit = effect == .admit
            admitting.store(admit, ordering: .releasing)
            options.log(
                admit
                    ? "cluster: database back, admitting agents"
                    : "cluster: cannot record agents, closing them (1001) so they reconnect elsewhere")
            control.withLock { $0.ownershipHandler }?(admit)
        case .reassert:
            var rows = Inventory.Applied()
            rows.rows = inventory.heldRows()
            options.log(
                "cluster: heartbeats were late; the rows of the \(rows.rows.count) agents held here are written again")
            writer.add(rows, messages: 0)
        }
    }
}
