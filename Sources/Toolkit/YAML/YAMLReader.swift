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
