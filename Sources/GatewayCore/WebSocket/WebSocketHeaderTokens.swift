/// Just enough HTTP list syntax (RFC 9110 §5.6) for the upgrade headers: comma lists,
/// `;` parameters, optional quoted values, ASCII case folding.
enum WebSocketHeaderTokens {
    /// Whether a comma list such as `keep-alive, Upgrade` contains `token`, ignoring case.
    static func contains(_ value: String?, token: String) -> Bool {
        guard let value else { return false }
        let wanted = lowercased(Array(token.utf8))
        return split(Array(value.utf8)[...], on: UInt8(ascii: ",")).contains { lowercased(Array($0)) == wanted }
    }

    /// Splits on `separator` outside double quotes and trims spaces and tabs from each part.
    static func split(_ bytes: ArraySlice<UInt8>, on separator: UInt8) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var quoted = false
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                quoted.toggle()
            } else if b == UInt8(ascii: "\\") && quoted {
                i += 1
            } else if b == separator && !quoted {
                parts.append(trimmed(bytes[start..<i]))
                start = i + 1
            }
            i += 1
        }
        parts.append(trimmed(bytes[start..<min(i, bytes.endIndex)]))
        return parts
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, f == 0x20 || f == 0x09 { s.removeFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s.removeLast() }
        return s
    }

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }

    /// A parameter value with its quotes (and backslash escapes) removed.
    static func unquoted(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else {
            return Array(bytes)
        }
        var out: [UInt8] = []
        var escaped = false
        for b in bytes.dropFirst().dropLast() {
            if !escaped && b == UInt8(ascii: "\\") {
                escaped = true
                continue
            }
            escaped = false
            out.append(b)
        }
        return out
    }
}
