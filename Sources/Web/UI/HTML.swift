import Foundation

/// A fragment of HTML. Interpolated strings are escaped; only other `HTML` values go in as
/// they are. Pages are built from these alone, so text that came from agents or operators
/// (attributes, config names, descriptions) cannot become markup by being forgotten.
struct HTML: Sendable, ExpressibleByStringInterpolation, Equatable {
    /// The markup.
    var text: String

    init(raw text: String) { self.text = text }

    init(stringLiteral value: String) { text = value }

    init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }

    /// The interpolation that escapes.
    struct StringInterpolation: StringInterpolationProtocol {
        var text = ""

        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }

        mutating func appendLiteral(_ literal: String) { text += literal }
        mutating func appendInterpolation(_ value: String) { text += HTML.escape(value) }
        mutating func appendInterpolation(_ value: Substring) { text += HTML.escape(String(value)) }
        mutating func appendInterpolation(_ value: HTML) { text += value.text }
        mutating func appendInterpolation(_ values: [HTML]) { for value in values { text += value.text } }
        mutating func appendInterpolation(_ value: Int) { text += String(value) }
        mutating func appendInterpolation(_ value: Int64) { text += String(value) }
        mutating func appendInterpolation(_ value: UInt64) { text += String(value) }
        mutating func appendInterpolation(_ value: Double) { text += String(value) }
    }

    /// `text` safe in element content and in quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Controls other than tab and newlines are not allowed in HTML text.
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` as one percent-encoded path segment or query value.
    static func component(_ text: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// A query string (`?a=1&b=2`) of the pairs with a value, in their order; "" when none.
    static func query(_ pairs: [(String, String?)]) -> String {
        let parts = pairs.compactMap { key, value in value.map { component(key) + "=" + component($0) } }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    static func + (a: HTML, b: HTML) -> HTML { HTML(raw: a.text + b.text) }

    /// The fragments one after another.
    static func join(_ parts: [HTML], separator: HTML = "") -> HTML {
        HTML(raw: parts.map(\.text).joined(separator: separator.text))
    }
}
