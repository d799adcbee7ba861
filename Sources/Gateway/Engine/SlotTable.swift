/// A record with a placeholder that empty slots hold: `SlotTable` keeps records unwrapped, so
/// reaching one asks a `Bool`, not an optional's tag, which Swift hides in spare bits of the
/// record's own fields and reads through an outlined function on every access (2.3 % of the
/// server's user-space CPU at 100 000 agents before). The placeholder must be cheap and have no
/// effect: it is made when the table grows and when a record leaves.
protocol SlotRecord {
    /// An empty slot's value.
    static var vacant: Self { get }
}

/// Records addressed by a slot number the kernel chose (io_uring's registered-file index), held
/// by value in one array. Every access is in place through a closure: a record (and the buffers
/// it holds) is never copied to be read, and an empty slot is a nil result, not a trap.
struct SlotTable<Element: SlotRecord> {
    /// Occupied slots hold their record, the others `Element.vacant`.
    private var items: [Element] = []
    private var occupied: [Bool] = []

    /// One past the highest slot ever used.
    var capacity: Int { items.count }

    /// Whether `slot` holds a record.
    func holds(_ slot: Int) -> Bool { slot < occupied.count && occupied[slot] }

    /// Stores `element` in `slot`, growing the table as the kernel hands out higher slots.
    mutating func insert(_ element: Element, at slot: Int) {
        if slot >= items.count {
            items.append(contentsOf: repeatElement(.vacant, count: slot + 1 - items.count))
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
        var held = Element.vacant
        swap(&held, &items[slot])
        return held
    }

    /// Runs `body` on the record in `slot` in place; nil when the slot is empty.
    @inline(__always)
    mutating func with<R>(_ slot: Int, _ body: (inout Element) -> R) -> R? {
        guard slot < occupied.count, occupied[slot] else { return nil }
        return body(&items[slot])
    }
}
