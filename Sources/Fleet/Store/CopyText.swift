import Foundation

/// PostgreSQL COPY text format: tab-separated, `\N` for NULL, backslash escapes, bytea as
/// `\\x…`. Each writer appends one field and its separator (a tab, or the newline after the last).
enum CopyText {
    static func text(_ s: String?, _ out: inout [UInt8], last: Bool = false) {
        if let s { escape(s, &out) } else { out.append(contentsOf: [92, 78]) }
        out.append(last ? 10 : 9)
    }

    static func int(_ n: Int64, _ out: inout [UInt8], last: Bool = false) {
        if n < 0 { out.append(45) }
        var v = n.magnitude
        // Room for the digits first, then filled from the last: no scratch buffer.
        var count = 1
        var rest = v
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        let start = out.count
        out.append(contentsOf: repeatElement(48, count: count))
        var i = start + count - 1
        repeat {
            out[i] = UInt8(48 + v % 10)
            v /= 10
            i -= 1
        } while v > 0
        out.append(last ? 10 : 9)
    }

    static func bytes(_ b: [UInt8]?, _ out: inout [UInt8], last: Bool = false) {
        if let b {
            out.append(contentsOf: [92, 92, 120])
            ConfigHash.appendHex(b, to: &out)
        } else {
            out.append(contentsOf: [92, 78])
        }
        out.append(last ? 10 : 9)
    }

    static func escape(_ s: String, _ out: inout [UInt8]) {
        for byte in s.utf8 {
            switch byte {
            case 92: out.append(contentsOf: [92, 92])
            case 9: out.append(contentsOf: [92, 116])
            case 10: out.append(contentsOf: [92, 110])
            case 13: out.append(contentsOf: [92, 114])
            default: out.append(byte)
            }
        }
    }

    /// Decodes a bytea in hex output format (`\x…`).
    static func bytea(_ text: String?) -> [UInt8]? {
        guard let text else { return nil }
        guard text.hasPrefix("\\x") else { return Array(text.utf8) }
        return ConfigHash.bytes(hex: String(text.dropFirst(2)))
    }
}
