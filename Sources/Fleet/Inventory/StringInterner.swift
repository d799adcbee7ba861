import Synchronization

/// One shared copy of the strings that many agents report alike: attribute keys, versions,
/// regions, config hashes. A Swift string longer than 15 UTF-8 bytes is a heap object per copy,
/// and a fleet of Collectors repeats the same few hundred of them in every agent's record.
///
/// Bounded: once `capacity` strings are held, new strings pass through uninterned, so values
/// that are unique per agent (pod names, instance ids) cannot grow the table for ever. The
/// strings a fleet shares arrive with its first agents and are the ones kept. Entries are never
/// evicted; the table's whole size is at most `capacity` strings of at most `maxLength` bytes.
final class StringInterner: Sendable {
    private let table: Mutex<Set<String>>
    /// Most strings held.
    let capacity: Int
    /// Longer strings are not worth a lookup (and would make the bound loose).
    let maxLength: Int

    /// The table every inventory of the process shares.
    static let shared = StringInterner(capacity: 32_768, maxLength: 256)

    init(capacity: Int, maxLength: Int) {
        self.capacity = capacity
        self.maxLength = maxLength
        table = Mutex([])
    }

    /// `s`, or an equal string already held (sharing its storage).
    func intern(_ s: String) -> String {
        let length = s.utf8.count
        // Up to 15 bytes a string is stored inline, with nothing to share.
        guard length > 15, length <= maxLength else { return s }
        return table.withLock { t in
            if let i = t.firstIndex(of: s) { return t[i] }
            if t.count < capacity { t.insert(s) }
            return s
        }
    }

    /// How many strings are held.
    var count: Int { table.withLock { $0.count } }
}
