/// A record that can be changed in place through an optional (`table[slot]?.update { … }`).
protocol InPlaceUpdatable {}

extension InPlaceUpdatable {
    /// Runs `body` on `self` in place.
    @inline(__always)
    mutating func update<R>(_ body: (inout Self) -> R) -> R { body(&self) }
}

/// Records addressed by a slot number the kernel chose (io_uring's registered-file index), held
/// by value in one array. Every access is in place through a closure: a record (and the buffers
/// it holds) is never copied to be read, and an empty slot is a nil result, not a trap.
struct SlotTable<Element: InPlaceUpdatable> {
    private var items: [Element?] = []
    /// Which slots hold a record: asking the optional itself (`items[slot] != nil`) copies it.
    private var occupied: [Bool] = []

    /// One past the highest slot ever used.
    var capacity: Int { items.count }

    /// Whether `slot` holds a record.
    func holds(_ slot: Int) -> Bool { slot < occupied.count && occupied[slot] }

    /// Stores `element` in `slot`, growing the table as the kernel hands out higher slots.
    mutating func insert(_ element: Element, at slot: Int) {
        if slot >= items.count {
            items.append(contentsOf: repeatElement(nil, count: slot + 1 - items.count))
            occupied.append(contentsOf: repeatElement(false, count: slot + 1 - occupied.count))
        }
        items[slot] = element
        occupied[slot] = true
    }

    /// Empties `slot`, returning what it held.
    @discardableResult
    mutating func remove(_ slot: Int) -> Element? {
        guard holds(slot) else { return nil }
        occupied[slot] = false
        return items[slot].take()
    }

    /// Runs `body` on the record in `slot` in place; nil when the slot is empty.
    @inline(__always)
    mutating func with<R>(_ slot: Int, _ body: (inout Element) -> R) -> R? {
        guard slot < items.count else { return nil }
        return items[slot]?.update(body)
    }
}
