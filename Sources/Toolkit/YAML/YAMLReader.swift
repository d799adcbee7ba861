import Yams

/// A YAML syntax error with the place libyaml stopped.
public struct YAMLSyntaxError: Error, Sendable {
    /// What went wrong, in libyaml's words.
    public var message: String
    /// Where.
    public var position: SourcePosition
}

/// Shifts positions of YAML that was embedded in another file (a ConfigMap value, a CR field).
public struct PositionMap: Sendable {
    /// Added to every line.
    public var lineOffset = 0
    /// Added to every column (a literal block's indentation).
    public var columnOffset = 0

    /// No shift.
    public init() {}

    /// Creates a shift.
    public init(lineOffset: Int, columnOffset: Int) {
        self.lineOffset = lineOffset
        self.columnOffset = columnOffset
    }
}

/// Turns YAML text into `YNode` documents, keeping positions and expanding anchors and `<<` merges.
public enum YAMLReader {
    /// Budget against alias bombs: a document may not expand beyond this many nodes.
    static let nodeBudget = 2_000_000

    /// Parses every document in `text`; empty documents are dropped.
    public static func documents(
        _ text: String, file: String, map: PositionMap = PositionMap()
    ) throws(YAMLSyntaxError) -> [YNode] {
        var result: [YNode] = []
        try refuseAliasKeys(text, file: file, map: map)
        do {
            let parser = try Parser(yaml: text)
            var converter = Converter(file: file, map: map)
            while let root = try parser.nextRoot() {
                result.append(try converter.convert(root))
            }
        } catch let error as YAMLSyntaxError {
            throw error
        } catch let error as YamlError {
            throw syntaxError(error, file: file, map: map)
        } catch {
            throw YAMLSyntaxError(message: "\(error)", position: SourcePosition(file: file, line: 1, column: 1))
        }
        return result
    }

    /// What stands in for each alias in `refuseAliasKeys`' first reading.
    static let aliasMarker = "__ampora_alias__"

    /// Refuses a document that uses an alias as a mapping key (or inside one). Yams hashes every
    /// key of a mapping to find duplicates, and an alias key is hashed through everything it
    /// expands to: ten nested aliases in 500 bytes are 10⁸ nodes, hashed before `nodeBudget` can
    /// count any of them (FUZZING.md tells how the fuzzer found it). Collector configs never need
    /// such keys. Text with an alias is read once with every alias replaced by a plain marker
    /// scalar (alias names are letters, digits, `-` and `_`, so the marker keeps the text valid),
    /// where every key is cheap to hash, and a marker in a key refuses the document.
    static func refuseAliasKeys(_ text: String, file: String, map: PositionMap) throws(YAMLSyntaxError) {
        guard text.utf8.contains(UInt8(ascii: "*")) else { return }
        let utf8 = Array(text.utf8)
        let marker = Array(aliasMarker.utf8)
        var sanitized: [UInt8] = []
        sanitized.reserveCapacity(utf8.count + 64)
        // Where markers went, as (line, column in the marked text), both counted from 1 in
        // characters as libyaml counts them, to report an error at its place in `text`.
        var markers: [(line: Int, column: Int)] = []
        var line = 1
        var column = 1
        var previous = UInt8(ascii: "\n")
        for byte in utf8 {
            // An alias starts a token: after white space, a flow indicator, `-` or `?`. Inside a
            // quoted or block scalar or a comment the replacement changes only text that is not
            // a plain key, which the check below ignores.
            if byte == UInt8(ascii: "*"), Self.startsToken(after: previous) {
                markers.append((line, column))
                sanitized += marker
                column += marker.count
            } else {
                sanitized.append(byte)
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            previous = byte
        }
        let roots: [Node]
        do {
            let parser = try Parser(yaml: String(decoding: sanitized, as: UTF8.self))
            var all: [Node] = []
            while let root = try parser.nextRoot() { all.append(root) }
            roots = all
        } catch {
            // Not the text's own reading, which could hash an alias key before it reaches the
            // same error: this one's error, at the same place in the text.
            var refusal =
                (error as? YamlError).map { syntaxError($0, file: file, map: PositionMap()) }
                ?? YAMLSyntaxError(message: "\(error)", position: SourcePosition(file: file, line: 1, column: 1))
            let at = refusal.position
            let shift = markers.filter { $0.line == at.line && $0.column < at.column }.count * (marker.count - 1)
            refusal.position = SourcePosition(
                file: file, line: at.line + map.lineOffset, column: max(at.column - shift, 1) + map.columnOffset)
            throw refusal
        }
        let converter = Converter(file: file, map: map)
        for root in roots {
            if let (alias, mark) = Self.aliasInKey(root) {
                throw YAMLSyntaxError(
                    message: "YAML: alias *\(alias) used as a mapping key; Ampora does not accept aliases in keys",
                    position: converter.position(mark))
            }
        }
    }

    static func startsToken(after byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "["),
            UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "?"):
            true
        default: false
        }
    }

    /// The first alias marker standing in a mapping key of `node` (at any depth), with its place.
    static func aliasInKey(_ node: Node) -> (String, Mark?)? {
        var stack: [(node: Node, inKey: Bool)] = [(node, false)]
        while let (current, inKey) = stack.popLast() {
            switch current {
            case .scalar(let scalar):
                if inKey, scalar.style == .plain, scalar.string.hasPrefix(aliasMarker) {
                    return (String(scalar.string.dropFirst(aliasMarker.count)), scalar.mark)
                }
            case .sequence(let sequence):
                for item in sequence { stack.append((item, inKey)) }
            case .mapping(let mapping):
                for (key, value) in mapping {
                    stack.append((key, true))
                    stack.append((value, inKey))
                }
            case .alias:
                break
            }
        }
        return nil
    }

    static func syntaxError(_ error: YamlError, file: String, map: PositionMap) -> YAMLSyntaxError {
        func at(_ mark: Mark?) -> SourcePosition {
            let line = mark?.line ?? 1
            let column = mark?.column ?? 1
            return SourcePosition(
                file: file, line: max(line, 1) + map.lineOffset, column: max(column, 1) + map.columnOffset)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return YAMLSyntaxError(message: "YAML: \(prefix)\(problem)", position: at(mark))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return YAMLSyntaxError(
                message: "YAML: duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one map",
                position: at(context.mark))
        case .reader(let problem, _, _, _):
            return YAMLSyntaxError(message: "YAML: \(problem)", position: at(nil))
        default:
            return YAMLSyntaxError(message: "YAML: \(error)", position: at(nil))
        }
    }

    struct Converter {
        var file: String
        var map: PositionMap
        var budget = YAMLReader.nodeBudget

        func position(_ mark: Mark?) -> SourcePosition {
            SourcePosition(
                file: file, line: (mark?.line ?? 1) + map.lineOffset, column: (mark?.column ?? 1) + map.columnOffset)
        }

        static func explicitTag(_ tag: Tag) -> String? {
            let name = tag.rawValue
            return name.isEmpty || name == "!" ? nil : name
        }

        mutating func convert(_ node: Node) throws(YAMLSyntaxError) -> YNode {
            budget -= 1
            if budget < 0 {
                throw YAMLSyntaxError(
                    message: "YAML: document expands to more than \(YAMLReader.nodeBudget) nodes (alias bomb?)",
                    position: position(node.mark))
            }
            switch node {
            case .scalar(let scalar):
                let style: ScalarStyle
                switch scalar.style {
                case .singleQuoted: style = .singleQuoted
                case .doubleQuoted: style = .doubleQuoted
                case .literal: style = .literal
                case .folded: style = .folded
                default: style = .plain
                }
                return YNode(
                    .scalar(scalar.string, style), at: position(scalar.mark), tag: Self.explicitTag(scalar.tag))
            case .sequence(let sequence):
                var items: [YNode] = []
                items.reserveCapacity(sequence.count)
                for item in sequence { items.append(try convert(item)) }
                return YNode(.sequence(items), at: position(sequence.mark))
            case .mapping(let mapping):
                var pairs: [YPair] = []
                var merged: [YPair] = []
                for (key, value) in mapping {
                    let keyText = key.scalar?.string ?? Self.flatText(key)
                    if keyText == "<<", key.scalar?.style == .plain {
                        // YAML merge keys: explicit keys of this map win over merged ones, earlier merges win over later.
                        let sources = value.sequence.map { Array($0) } ?? [value]
                        for source in sources {
                            let converted = try convert(source)
                            for pair in converted.pairs ?? [] where !merged.contains(where: { $0.key == pair.key }) {
                                merged.append(pair)
                            }
                        }
                        continue
                    }
                    pairs.append(YPair(key: keyText, keyPosition: position(key.mark), value: try convert(value)))
                }
                for pair in merged where !pairs.contains(where: { $0.key == pair.key }) { pairs.append(pair) }
                return YNode(.mapping(pairs), at: position(mapping.mark))
            case .alias(let alias):
                return YNode(.scalar("*\(alias.anchor.rawValue)", .plain), at: position(alias.mark))
            }
        }

        static func flatText(_ node: Node) -> String {
            switch node {
            case .scalar(let scalar): return scalar.string
            case .sequence(let sequence): return "[" + sequence.map(flatText).joined(separator: ", ") + "]"
            case .mapping(let mapping):
                return "{" + mapping.map { flatText($0.key) + ": " + flatText($0.value) }.joined(separator: ", ") + "}"
            case .alias(let alias): return "*\(alias.anchor.rawValue)"
            }
        }
    }
}
