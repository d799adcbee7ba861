/// Byte classes and small scanners of RFC 9110/9112 grammar, shared by the parser and the field helpers.
enum HTTPSyntax {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let semicolon = UInt8(ascii: ";")
    static let crlf: [UInt8] = [13, 10]

    /// `tchar` of RFC 9110 §5.6.2: what methods, field names and list tokens are made of.
    @inline(__always) static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Bytes allowed in a request line: visible ASCII and SP, so garbage (TLS, binary) fails at once.
    @inline(__always) static func isRequestLineByte(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7F }

    /// Bytes allowed in a field or chunk line: `field-vchar`, obs-text, SP and HTAB; no other controls.
    @inline(__always) static func isFieldByte(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    /// Optional whitespace (OWS) of RFC 9110 §5.6.3.
    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// CR or LF, the bytes a response field must never carry.
    @inline(__always) static func isLineBreak(_ byte: UInt8) -> Bool { byte == cr || byte == lf }

    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte &- UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte &- UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// ASCII case-insensitive equality, as field names and most tokens compare.
    static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ text: String) -> Bool {
        let utf8 = text.utf8
        guard bytes.count == utf8.count else { return false }
        return zip(bytes, utf8).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// `bytes` without leading and trailing OWS.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lower = bytes.startIndex
        var upper = bytes.endIndex
        while lower < upper, isWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower, isWhitespace(bytes[upper - 1]) { upper -= 1 }
        return bytes[lower..<upper]
    }

    /// Calls `body` with each trimmed, non-empty element of a comma-separated list, until it returns false.
    /// Commas inside quoted strings are not special-cased: none of the fields read this way carry them.
    static func forEachElement(of bytes: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) -> Bool) {
        var start = bytes.startIndex
        while start <= bytes.endIndex {
            let end = bytes[start...].firstIndex(of: comma) ?? bytes.endIndex
            let element = trimmed(bytes[start..<end])
            if !element.isEmpty, !body(element) { return }
            start = end + 1
        }
    }

    /// Parses a non-empty run of decimal digits; nil for anything else or an `Int` overflow.
    /// RFC 9112 §3.2 / RFC 3986 §3.2.2: `uri-host [ ":" port ]`, where the host is an IP
    /// literal in brackets or a reg-name (unreserved, sub-delims and %-escapes; may be empty).
    static func isValidHost(_ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        if rest.first == UInt8(ascii: "[") {
            guard let close = rest.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = rest[(rest.startIndex + 1)..<close]
            guard !literal.isEmpty,
                literal.allSatisfy({ hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            rest = rest[(close + 1)...]
        } else {
            let end = rest.firstIndex(of: colon) ?? rest.endIndex
            var i = rest.startIndex
            while i < end {
                let b = rest[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < end, hexValue(rest[i + 1]) != nil, hexValue(rest[i + 2]) != nil else { return false }
                    i += 3
                    continue
                }
                guard isUnreserved(b) || isSubDelim(b) else { return false }
                i += 1
            }
            rest = rest[end...]
        }
        guard let first = rest.first else { return true }
        return first == colon && rest.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
            || b == 0x5F || b == 0x7E
    }

    private static func isSubDelim(_ b: UInt8) -> Bool {
        "!$&'()*+,;=".utf8.contains(b)
    }

    static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// Appends a non-negative integer in decimal without going through `String`.
    static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        precondition(value >= 0, "negative length or code")
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}

extension RawSpan {
    /// The byte at `offset`, bounds-checked.
    @inlinable
    func byte(_ offset: Int) -> UInt8 {
        unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }
}
