/// The connections of one loop still in the HTTP phase, oldest first, so that reaching the
/// cap closes the oldest of them instead of refusing new ones (a slowloris flood then only
/// ever displaces itself). Entries of connections that moved on are dropped lazily.
package struct HalfOpenQueue {
    /// Empty.
    package init() {}

    package struct Entry: Equatable {
        package var slot: UInt32
        package var token: UInt64
    }

    private var entries: [Entry] = []
    private var head = 0

    /// Entries held (including stale ones).
    package var count: Int { entries.count - head }

    /// Remembers a connection just accepted.
    package mutating func append(slot: UInt32, token: UInt64) {
        entries.append(Entry(slot: slot, token: token))
    }

    /// The oldest entry for which `isHalfOpen` holds, removed; stale entries before it go too.
    package mutating func popOldest(where isHalfOpen: (Entry) -> Bool) -> Entry? {
        while head < entries.count {
            let entry = entries[head]
            head += 1
            if isHalfOpen(entry) {
                compactIfSparse()
                return entry
            }
        }
        entries.removeAll(keepingCapacity: true)
        head = 0
        return nil
    }

    /// Drops stale entries once they outnumber `live` live ones by far (amortised O(1) per accept).
    package mutating func compact(live: Int, where isHalfOpen: (Entry) -> Bool) {
        guard count > max(4096, live * 4) else { return }
        entries = entries[head...].filter(isHalfOpen)
        head = 0
    }

    private mutating func compactIfSparse() {
        if head > 4096 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
