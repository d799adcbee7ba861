/// A place in a source file: 1-based line and column (columns count Unicode scalars, as libyaml does).
public struct SourcePosition: Sendable, Hashable, Comparable {
    /// The file as the user named it (`-` for standard input).
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a position.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public static func < (a: SourcePosition, b: SourcePosition) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }
}

/// How a scalar was written; OTTL and template checks care whether it was quoted.
public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// A YAML node with its source position, independent of the parser that produced it.
public struct YNode: Sendable, Hashable {
    /// The node's content.
    public indirect enum Kind: Sendable, Hashable {
        case scalar(String, ScalarStyle)
        case mapping([YPair])
        case sequence([YNode])
    }

    /// Content.
    public var kind: Kind
    /// Where the node starts.
    public var position: SourcePosition
    /// An explicit tag such as `!!str`, kept so typing follows the author's intent.
    public var tag: String?

    /// Creates a node.
    public init(_ kind: Kind, at position: SourcePosition, tag: String? = nil) {
        self.kind = kind
        self.position = position
        self.tag = tag
    }

    /// The mapping's pairs, or nil when this is not a mapping.
    public var pairs: [YPair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// The sequence's items, or nil when this is not a sequence.
    public var items: [YNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The scalar text, or nil for collections.
    public var scalar: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// The scalar's style, or nil for collections.
    public var style: ScalarStyle? {
        if case .scalar(_, let style) = kind { return style }
        return nil
    }

    /// True for `~`, `null`, or nothing at all, written plain: the Collector reads these as "use defaults".
    public var isNull: Bool {
        guard case .scalar(let text, .plain) = kind, tag == nil || tag == "tag:yaml.org,2002:null" else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// The value under `key` in a mapping.
    public subscript(key: String) -> YNode? {
        pairs?.first(where: { $0.key == key })?.value
    }

    /// The pair for `key` in a mapping.
    public func pair(_ key: String) -> YPair? {
        pairs?.first(where: { $0.key == key })
    }

    /// A short name for the node's shape, used in messages.
    public var shapeName: String {
        switch kind {
        case .mapping: return "a map"
        case .sequence: return "a list"
        case .scalar: return isNull ? "empty" : "a scalar"
        }
    }
}

/// A mapping entry; keys in Collector configs are always strings.
public struct YPair: Sendable, Hashable {
    /// The key text.
    public var key: String
    /// Where the key is written: findings about an entry point at its key.
    public var keyPosition: SourcePosition
    /// The value.
    public var value: YNode

    /// Creates a pair.
    public init(key: String, keyPosition: SourcePosition, value: YNode) {
        self.key = key
        self.keyPosition = keyPosition
        self.value = value
    }
}
