/// When each slot's connection next needs the timer pass: an open WebSocket agent only once its
/// idle deadline has come, everything else (handshakes, HTTP exchanges, closing connections)
/// every pass. A pass over a million agents then looks at a few of them, not all.
package struct Rechecks {
    /// No slot due.
    package init() {}

    private var at: [UInt64] = []

    /// Looks at `slot` on the next pass (a new connection, or one that changed state).
    package mutating func soon(_ slot: Int) {
        if slot >= at.count { at.append(contentsOf: repeatElement(.max, count: slot + 1 - at.count)) }
        at[slot] = 0
    }

    /// Never looks at `slot` again (until `soon`).
    package mutating func forget(_ slot: Int) {
        if slot < at.count { at[slot] = .max }
    }

    /// After a pass looked at `slot`: its next look is at `deadline` (no earlier than the next
    /// tick), or on every pass when it has none.
    package mutating func after(_ slot: Int, deadline: UInt64?, now: UInt64, tick: UInt64) {
        guard slot < at.count else { return }
        at[slot] = deadline.map { max($0, now &+ tick) } ?? 0
    }

    /// The slots due at `now`, in slot order.
    package func due(_ now: UInt64) -> [Int] {
        at.indices.filter { at[$0] <= now }
    }
}
