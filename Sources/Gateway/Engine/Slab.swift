/// Connection records stored by value in one array, addressed by slot index; freed slots are
/// reused, and a generation counter tells a reused slot from the connection that held it.
struct Slab<Element> {
    private(set) var items: [Element?] = []
    private(set) var generations: [UInt32] = []
    private var free: [Int32] = []
    private(set) var count = 0

    /// Stores `element`, returning its slot and generation.
    mutating func insert(_ element: Element) -> (slot: Int32, generation: UInt32) {
        count += 1
        if let slot = free.popLast() {
            items[Int(slot)] = element
            return (slot, generations[Int(slot)])
        }
        items.append(element)
        generations.append(1)
        return (Int32(items.count - 1), 1)
    }

    /// Frees a slot; its generation moves on so stale references no longer match.
    mutating func remove(_ slot: Int32) -> Element? {
        let i = Int(slot)
        guard i < items.count, let element = items[i] else { return nil }
        items[i] = nil
        generations[i] &+= 1
        free.append(slot)
        count -= 1
        return element
    }

    /// True when `slot` holds the connection of `generation`.
    func isLive(_ slot: Int32, _ generation: UInt32) -> Bool {
        let i = Int(slot)
        return i >= 0 && i < items.count && generations[i] == generation && items[i] != nil
    }

    /// In-place access to a live slot's element.
    mutating func withElement<R>(_ slot: Int32, _ body: (inout Element) -> R) -> R? {
        let i = Int(slot)
        guard i < items.count, items[i] != nil else { return nil }
        return body(&items[i]!)
    }

    /// Slots currently in use.
    var liveSlots: [Int32] {
        items.indices.compactMap { items[$0] == nil ? nil : Int32($0) }
    }
}
