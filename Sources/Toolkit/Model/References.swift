/// A `${…}` config reference or a bare `$NAME` found in a scalar value.
public struct ConfigReference: Sendable, Hashable {
    /// How the reference is written.
    public enum Form: Sendable, Hashable {
        /// `${scheme:value}` or `${NAME}` (scheme `env`).
        case braced
        /// `$NAME`: the Collector leaves it literal.
        case bare
    }

    /// The provider scheme (`env`, `file`, `http`, …).
    public var scheme: String
    /// The name or URI after the scheme.
    public var name: String
    /// The `:-default` part of an env reference.
    public var defaultValue: String?
    /// The reference exactly as written.
    public var raw: String
    /// Written form.
    public var form: Form
    /// Offset of the `$` in the scalar text, in Unicode scalars (columns count them too).
    public var offset: Int
}

/// One piece of a scalar split at references.
public enum ValuePiece: Sendable, Hashable {
    case literal(String)
    case reference(ConfigReference)
    /// A `${` that is never closed, or a reference with no name.
    case malformed(String, offset: Int)
}

/// Splits scalar values at config references, the way the Collector's confmap resolver reads them.
public enum ReferenceScanner {
    static func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    static func isNameChar(_ c: Unicode.Scalar) -> Bool { isLetter(c) || ("0"..."9").contains(c) || c == "_" }

    /// The pieces of `text`; text without `$` is one literal.
    public static func pieces(_ text: String) -> [ValuePiece] {
        guard text.unicodeScalars.contains("$") else { return [.literal(text)] }
        let scalars = Array(text.unicodeScalars)
        var pieces: [ValuePiece] = []
        var literal = String.UnicodeScalarView()
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(String(literal))) }
            literal = String.UnicodeScalarView()
        }
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            guard c == "$", i + 1 < scalars.count else {
                literal.append(c)
                i += 1
                continue
            }
            let next = scalars[i + 1]
            if next == "$" {
                // `$$` is the escape for a literal `$`.
                literal.append("$")
                i += 2
            } else if next == "{" {
                var depth = 0
                var end: Int?
                var j = i + 2
                while j < scalars.count {
                    if scalars[j] == "{" { depth += 1 }
                    if scalars[j] == "}" {
                        if depth == 0 {
                            end = j
                            break
                        }
                        depth -= 1
                    }
                    j += 1
                }
                guard let end else {
                    flush()
                    pieces.append(.malformed(String(String.UnicodeScalarView(scalars[i...])), offset: i))
                    i = scalars.count
                    continue
                }
                let inner = String(String.UnicodeScalarView(scalars[(i + 2)..<end]))
                let raw = String(String.UnicodeScalarView(scalars[i...end]))
                flush()
                if let reference = parseBraced(inner, raw: raw, offset: i) {
                    pieces.append(.reference(reference))
                } else {
                    pieces.append(.malformed(raw, offset: i))
                }
                i = end + 1
            } else if isLetter(next) || next == "_" {
                var j = i + 1
                while j < scalars.count, isNameChar(scalars[j]) { j += 1 }
                let name = String(String.UnicodeScalarView(scalars[(i + 1)..<j]))
                let raw = "$" + name
                flush()
                pieces.append(
                    .reference(
                        ConfigReference(scheme: "env", name: name, defaultValue: nil, raw: raw, form: .bare, offset: i))
                )
                i = j
            } else {
                literal.append(c)
                i += 1
            }
        }
        flush()
        return pieces
    }

    static func parseBraced(_ inner: String, raw: String, offset: Int) -> ConfigReference? {
        let trimmed = inner
        guard !trimmed.isEmpty else { return nil }
        if let colon = trimmed.firstIndex(of: ":") {
            let scheme = String(trimmed[..<colon])
            let rest = String(trimmed[trimmed.index(after: colon)...])
            let schemeOK =
                !scheme.isEmpty && scheme.unicodeScalars.first.map(isLetter) == true
                && scheme.unicodeScalars.allSatisfy { isNameChar($0) || $0 == "+" || $0 == "." || $0 == "-" }
            guard schemeOK, !rest.isEmpty else { return nil }
            if scheme == "env" {
                var name = rest
                var defaultValue: String?
                if let range = rest.firstRange(of: ":-") {
                    name = String(rest[..<range.lowerBound])
                    defaultValue = String(rest[range.upperBound...])
                }
                guard !name.isEmpty, name.unicodeScalars.allSatisfy(isNameChar) else { return nil }
                return ConfigReference(
                    scheme: "env", name: name, defaultValue: defaultValue, raw: raw, form: .braced, offset: offset)
            }
            return ConfigReference(
                scheme: scheme, name: rest, defaultValue: nil, raw: raw, form: .braced, offset: offset)
        }
        guard trimmed.unicodeScalars.allSatisfy(isNameChar) else { return nil }
        return ConfigReference(scheme: "env", name: trimmed, defaultValue: nil, raw: raw, form: .braced, offset: offset)
    }

    /// The references in `text` (braced and bare).
    public static func references(_ text: String) -> [ConfigReference] {
        pieces(text).compactMap {
            if case .reference(let reference) = $0 { return reference }
            return nil
        }
    }
}

/// Values for env references: `--env-file` lines, then `--env K=V` (later wins).
public struct Environment: Sendable {
    /// Known variables.
    public var values: [String: String]
    /// Reads `${file:PATH}` references when set (opt-in: linting should not read arbitrary files by default).
    public var fileReader: (@Sendable (String) -> String?)?

    /// Creates an environment.
    public init(_ values: [String: String] = [:], fileReader: (@Sendable (String) -> String?)? = nil) {
        self.values = values
        self.fileReader = fileReader
    }

    /// Reads `KEY=VALUE` lines (`export ` prefix, `#` comments and surrounding quotes allowed).
    public mutating func load(envFile text: String) {
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingSpaces }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingSpaces
            var value = String(line[line.index(after: eq)...]).trimmingSpaces
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
    }

    /// Resolves env references in `text`; other schemes are kept as written. Returns nil parts it could not resolve.
    public func resolve(_ text: String) -> (value: String, unresolved: [ConfigReference]) {
        var out = ""
        var unresolved: [ConfigReference] = []
        for piece in ReferenceScanner.pieces(text) {
            switch piece {
            case .literal(let literal): out += literal
            case .malformed(let raw, _): out += raw
            case .reference(let reference):
                if reference.form == .bare {
                    out += reference.raw
                } else if reference.scheme == "env", let value = values[reference.name] {
                    out += value
                } else if reference.scheme == "env", let fallback = reference.defaultValue {
                    out += fallback
                } else {
                    out += reference.raw
                    unresolved.append(reference)
                }
            }
        }
        return (out, unresolved)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

extension YNode {
    /// The reference when this scalar is exactly one `${…}` and nothing else; the Collector then types the
    /// resolved text as YAML, so it can stand for a map or a list.
    public var wholeReference: ConfigReference? {
        guard case .scalar(let text, let style) = kind, style != .literal, style != .folded, text.hasPrefix("${"),
            text.hasSuffix("}")
        else { return nil }
        let pieces = ReferenceScanner.pieces(text)
        guard pieces.count == 1, case .reference(let reference) = pieces[0], reference.form == .braced else {
            return nil
        }
        return reference
    }

    /// A value whose content is only known at run time (a whole-value reference the environment cannot resolve).
    public var isOpaqueReference: Bool { wholeReference != nil }
}

extension Environment {
    /// Replaces whole-value env references that have a value with the YAML the value parses to, the way the
    /// Collector types them (`RECEIVERS="[otlp]"` becomes a list). Positions stay on the reference.
    public func expandWholeValues(_ node: YNode) -> YNode {
        switch node.kind {
        case .mapping(let pairs):
            var copy = node
            copy.kind = .mapping(
                pairs.map { YPair(key: $0.key, keyPosition: $0.keyPosition, value: expandWholeValues($0.value)) })
            return copy
        case .sequence(let items):
            var copy = node
            copy.kind = .sequence(items.map(expandWholeValues))
            return copy
        case .scalar:
            guard let reference = node.wholeReference, let value = wholeValue(reference) else { return node }
            guard let parsed = try? YAMLReader.documents(value, file: node.position.file).first else {
                return YNode(.scalar(value, .doubleQuoted), at: node.position)
            }
            return relocated(parsed, to: node.position)
        }
    }

    /// The text a whole-value reference stands for, when it can be known offline.
    func wholeValue(_ reference: ConfigReference) -> String? {
        switch reference.scheme {
        case "env":
            return values[reference.name] ?? reference.defaultValue
        case "file":
            // The path may itself hold env references (`${file:${env:BASE}/x.yaml}`).
            let path = resolve(reference.name)
            guard path.unresolved.isEmpty, let reader = fileReader else { return nil }
            return reader(path.value)
        default:
            return nil
        }
    }

    func relocated(_ node: YNode, to position: SourcePosition) -> YNode {
        var copy = node
        copy.position = position
        switch node.kind {
        case .mapping(let pairs):
            copy.kind = .mapping(
                pairs.map { YPair(key: $0.key, keyPosition: position, value: relocated($0.value, to: position)) })
        case .sequence(let items):
            copy.kind = .sequence(items.map { relocated($0, to: position) })
        case .scalar:
            break
        }
        return copy
    }
}

extension StringProtocol {
    /// Substring search on UTF-8 bytes; Foundation's `contains` goes through CFString and dominated lint time.
    func includes(_ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard let first = needle.first else { return true }
        let hay = Array(utf8)
        guard hay.count >= needle.count else { return false }
        var i = 0
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count, hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }
}
