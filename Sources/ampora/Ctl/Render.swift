import ArgumentParser
import Foundation

/// How `ampora ctl` prints what the API answered.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// Columns for people (the default).
    case table
    /// The API's JSON, indented.
    case json
    /// The same data as YAML.
    case yaml
}

/// Renders API answers (JSON values from `JSONSerialization`) as text.
enum Render {
    /// Indented JSON with sorted keys.
    static func json(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject(value) || value is String || value is NSNumber,
            let data = try? JSONSerialization.data(
                withJSONObject: value,
                options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Block-style YAML; strings are written as JSON strings, which YAML reads as they are.
    static func yaml(_ value: Any, indent: String = "") -> String {
        switch value {
        case let object as [String: Any]:
            guard !object.isEmpty else { return "{}" }
            return object.keys.sorted().map { key in
                let child = object[key]!
                let name = plainKey(key) ? key : scalar(key)
                if isBlock(child) { return "\(indent)\(name):\n" + yaml(child, indent: indent + "  ") }
                return "\(indent)\(name): " + yaml(child)
            }.joined(separator: "\n")
        case let array as [Any]:
            guard !array.isEmpty else { return "[]" }
            return array.map { item in
                guard isBlock(item) else { return "\(indent)- " + yaml(item) }
                let nested = yaml(item, indent: indent + "  ")
                return "\(indent)- " + nested.dropFirst(indent.count + 2)
            }.joined(separator: "\n")
        default:
            return scalar(value)
        }
    }

    /// Keys YAML reads as the same string unquoted (no indicator, number or boolean look-alike).
    private static func plainKey(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        let words: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]
        return !words.contains(key.lowercased())
            && key.unicodeScalars.allSatisfy {
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0))
            }
    }

    private static func isBlock(_ value: Any) -> Bool {
        if let object = value as? [String: Any] { return !object.isEmpty }
        if let array = value as? [Any] { return !array.isEmpty }
        return false
    }

    private static func scalar(_ value: Any) -> String {
        switch value {
        case is NSNull: "null"
        case let text as String: json(text)
        case let number as NSNumber: isBool(number) ? (number.boolValue ? "true" : "false") : number.stringValue
        default: json(value)
        }
    }

    /// JSON's true and false come back as NSNumbers of type `char`; numbers never do.
    private static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    /// Left-aligned columns under a header.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// A JSON value as one table cell.
    static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: "-"
        case let text as String: text.isEmpty ? "-" : text
        case let number as NSNumber: isBool(number) ? (number.boolValue ? "yes" : "no") : number.stringValue
        default: json(value!).replacingOccurrences(of: "\n", with: " ")
        }
    }

    /// An object as `key: value` lines (one object in table format).
    static func fields(_ object: [String: Any]) -> String {
        let width = object.keys.map(\.count).max() ?? 0
        return object.keys.sorted().map { key in
            key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + cell(object[key])
        }.joined(separator: "\n")
    }
}
