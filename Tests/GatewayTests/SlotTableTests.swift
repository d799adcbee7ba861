import Testing

@testable import Gateway

/// The table the io_uring driver keeps its connection records in: empty slots hold the
/// placeholder, and every access through an empty slot is nil, never the placeholder.
@Suite struct SlotTableTests {
    struct Item: SlotRecord, Equatable {
        var value: Int
        static var vacant: Item { Item(value: -1) }
    }

    @Test func emptySlotsAnswerNilAndRecordsChangeInPlace() {
        var table = SlotTable<Item>()
        #expect(table.with(0) { $0.value } == nil)
        table.insert(Item(value: 7), at: 3)
        #expect(table.capacity == 4)
        #expect(!table.holds(0) && !table.holds(2) && table.holds(3) && !table.holds(4))
        #expect(table.with(2) { $0.value } == nil, "a slot grown over holds nothing")
        #expect(
            table.with(3) { item -> Int in
                item.value += 1
                return item.value
            } == 8)
        #expect(table.remove(3) == Item(value: 8))
        #expect(table.remove(3) == nil, "removed once")
        #expect(table.with(3) { $0.value } == nil)
        table.insert(Item(value: 1), at: 3)
        #expect(table.with(3) { $0.value } == 1, "a slot is reused")
        #expect(table.remove(9) == nil)
    }
}
