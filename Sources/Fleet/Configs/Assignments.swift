import Core
import Synchronization

/// The assignments, newest last, each with its encoded config: what the inventory computes an
/// agent's desired config from, and what a never-seen agent's first message is matched against
/// on the loop (no database, no inventory lock).
final class Assignments: Sendable {
    /// An assignment and the remote config it hands out (nil when its blob cannot be read).
    struct Entry: Sendable {
        var row: AssignmentRow
        var config: SharedRemoteConfig?
    }

    private let entries: Mutex<[Entry]>

    /// The assignments loaded at start.
    init(_ entries: [Entry]) {
        self.entries = Mutex(entries.sorted(by: Self.precedes))
    }

    /// Every assignment, oldest first (a copy of the list: no lock is held while it is used).
    var all: [Entry] { entries.withLock { $0 } }

    /// True when there is at least one assignment.
    var isEmpty: Bool { entries.withLock { $0.isEmpty } }

    /// The assignment with `id`.
    func row(id: String) -> AssignmentRow? {
        entries.withLock { $0.first { $0.row.id == id }?.row }
    }

    /// The sequence number the next assignment gets.
    var nextSequence: Int64 { entries.withLock { ($0.last?.row.sequence ?? 0) + 1 } }

    /// Adds a stored assignment in its place: by sequence, then id. Two instances may number
    /// assignments made at the same moment alike; the id then decides, the same way everywhere.
    func append(_ entry: Entry) {
        entries.withLock { list in
            let at = list.lastIndex { !Self.precedes(entry, $0) }.map { $0 + 1 } ?? 0
            list.insert(entry, at: at)
        }
    }

    /// The order assignments take precedence in (a later one wins).
    static func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.row.sequence != b.row.sequence ? a.row.sequence < b.row.sequence : a.row.id < b.row.id
    }

    /// The assignment that wins for an agent with `attributes` and canonical uid `key`: the
    /// newest one that lists it, or whose selector it matches when it lists none.
    static func winner(
        in entries: [Entry], attributes: [(key: String, value: String)], uid key: String
    ) -> Entry? {
        entries.last { a in
            a.row.uids.isEmpty ? AgentState.matches(attributes, a.row.selector) : a.row.uids.contains(key)
        }
    }
}
