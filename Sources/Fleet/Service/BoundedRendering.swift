import Core

/// Caps on what one agent document shows, so that viewing an agent costs the server a bounded
/// amount of work and memory whatever that agent reported: the whole report stays stored, the
/// API shows a prefix of each long string, byte string or list and says that it did.
enum BoundedRendering {
    /// Characters of a string value shown.
    static let maxStringBytes = 4096
    /// Bytes of a bytes value shown.
    static let maxBytes = 1024
    /// Elements of an array or key-value list shown, at any depth.
    static let maxListElements = 256

    /// The description with every attribute value bounded; `truncated` says whether anything was cut.
    static func description(_ d: AgentDescription) -> (value: AgentDescription, truncated: Bool) {
        var out = d
        var truncated = false
        out.identifyingAttributes = bounded(d.identifyingAttributes, &truncated)
        out.nonIdentifyingAttributes = bounded(d.nonIdentifyingAttributes, &truncated)
        return (out, truncated)
    }

    /// Attribute text as listed with an agent: long keys and values cut to the same prefix
    /// (selectors still match the whole value; only what is shown is bounded).
    static func attributes(_ list: [(key: String, value: String)]) -> [(key: String, value: String)] {
        guard list.contains(where: { $0.key.utf8.count > maxStringBytes || $0.value.utf8.count > maxStringBytes })
        else { return list }
        return list.map { pair in
            (
                pair.key.utf8.count > maxStringBytes ? prefix(pair.key) : pair.key,
                pair.value.utf8.count > maxStringBytes ? prefix(pair.value) : pair.value
            )
        }
    }

    private static func bounded(_ list: [KeyValue], _ truncated: inout Bool) -> [KeyValue] {
        list.map { kv in
            var kv = kv
            if kv.key.utf8.count > maxStringBytes {
                kv.key = prefix(kv.key)
                truncated = true
            }
            kv.value = kv.value.map { bounded($0, &truncated) }
            return kv
        }
    }

    private static func bounded(_ value: AnyValue, _ truncated: inout Bool) -> AnyValue {
        var value = value
        switch value.value {
        case .stringValue(let s) where s.utf8.count > maxStringBytes:
            value.value = .stringValue(prefix(s))
            truncated = true
        case .bytesValue(let b) where b.count > maxBytes:
            value.value = .bytesValue(Array(b.prefix(maxBytes)))
            truncated = true
        case .arrayValue(var a):
            if a.values.count > maxListElements {
                a.values.removeSubrange(maxListElements...)
                truncated = true
            }
            a.values = a.values.map { bounded($0, &truncated) }
            value.value = .arrayValue(a)
        case .kvlistValue(var l):
            if l.values.count > maxListElements {
                l.values.removeSubrange(maxListElements...)
                truncated = true
            }
            l.values = bounded(l.values, &truncated)
            value.value = .kvlistValue(l)
        default:
            break
        }
        return value
    }

    /// The longest prefix of `s` within the cap that ends on a character boundary, marked.
    private static func prefix(_ s: String) -> String {
        let bytes = Array(s.utf8.prefix(maxStringBytes + 1))
        var end = min(maxStringBytes, bytes.count)
        // Back off continuation bytes (10xxxxxx) so the cut falls between characters.
        while end > 0 && end < bytes.count && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self) + "…"
    }
}
