/// `Accept-Encoding` weighing (RFC 9110 §12.5.3), reduced to the one question the gateway asks.
enum HTTPAcceptEncoding {
    /// gzip is acceptable if listed (or `x-gzip`) with q > 0, or unlisted but `*` has q > 0. An
    /// unreadable weight counts as 0: identity is always safe, so doubt never compresses.
    static func acceptsGzip(_ headers: HTTPHeaders) -> Bool {
        var gzip: Bool?
        var wildcard: Bool?
        headers.forEachElement(of: "Accept-Encoding") { element in
            let coding = HTTPSyntax.trimmed(element.prefix { $0 != HTTPSyntax.semicolon })
            let accepted = weightIsNonZero(element[coding.endIndex...])
            if HTTPSyntax.equalsIgnoringCase(coding, "gzip") || HTTPSyntax.equalsIgnoringCase(coding, "x-gzip") {
                gzip = (gzip ?? true) && accepted
            } else if coding.elementsEqual("*".utf8) {
                wildcard = (wildcard ?? true) && accepted
            }
            return true
        }
        return gzip ?? wildcard ?? false
    }

    /// Reads `;q=` among the parameters; no weight means 1.
    private static func weightIsNonZero(_ parameters: ArraySlice<UInt8>) -> Bool {
        var nonZero = true
        var rest = parameters
        while let separator = rest.firstIndex(of: HTTPSyntax.semicolon) {
            let after = rest[(separator + 1)...]
            let end = after.firstIndex(of: HTTPSyntax.semicolon) ?? after.endIndex
            let parameter = HTTPSyntax.trimmed(after[..<end])
            if parameter.count >= 2, HTTPSyntax.lowercased(parameter.first!) == UInt8(ascii: "q"),
                parameter[parameter.startIndex + 1] == UInt8(ascii: "=")
            {
                nonZero = qValueIsNonZero(parameter.dropFirst(2))
            }
            rest = after[end...]
        }
        return nonZero
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`; false when malformed.
    private static func qValueIsNonZero(_ value: ArraySlice<UInt8>) -> Bool {
        guard let first = value.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return false }
        let fraction = value.dropFirst()
        if fraction.isEmpty { return first == UInt8(ascii: "1") }
        let digits = fraction.dropFirst()
        guard fraction.first == UInt8(ascii: "."), digits.count <= 3,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return false }
        if first == UInt8(ascii: "1") { return digits.allSatisfy { $0 == UInt8(ascii: "0") } }
        return digits.contains { $0 != UInt8(ascii: "0") }
    }
}
