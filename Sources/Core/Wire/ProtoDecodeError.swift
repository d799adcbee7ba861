/// Why a protobuf message was refused, where (byte offset) and in which field path.
public struct ProtoDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The rule the input broke.
    public enum Kind: Equatable, Sendable {
        case truncated
        case varintTooLong
        case lengthOutOfBounds
        case fieldNumberZero
        case fieldNumberTooLarge
        case invalidWireType(UInt8)
        case unmatchedEndGroup
        case depthLimitExceeded
        case invalidUTF8
        case messageTooLarge
        case nonZeroHeader
    }

    /// The rule the input broke.
    public var kind: Kind
    /// Byte offset from the start of the decoded input where the problem was found.
    public var offset: Int
    /// Dotted path of JSON field names leading to the bad field; empty at the top level.
    public var path: String

    /// Makes an error at `offset` with no field path yet (callers prepend as it propagates).
    public init(_ kind: Kind, offset: Int, path: String = "") {
        self.kind = kind
        self.offset = offset
        self.path = path
    }

    /// The same error seen from the enclosing message's field `name`.
    @inlinable
    public func inField(_ name: StaticString) -> ProtoDecodeError {
        if name.utf8CodeUnitCount == 0 { return self }
        var copy = self
        let prefix = name.description
        copy.path = path.isEmpty ? prefix : prefix + "." + path
        return copy
    }

    /// A one-line English description, e.g. for a `BAD_REQUEST` reply or a CLI error.
    public var description: String {
        let what: String
        switch kind {
        case .truncated: what = "message truncated"
        case .varintTooLong: what = "varint longer than 10 bytes"
        case .lengthOutOfBounds: what = "length prefix runs past the end of the enclosing message"
        case .fieldNumberZero: what = "field number 0 is not allowed"
        case .fieldNumberTooLarge: what = "field number above 536870911"
        case .invalidWireType(let t): what = "invalid wire type \(t)"
        case .unmatchedEndGroup: what = "end-group tag without a matching start-group"
        case .depthLimitExceeded: what = "messages nested deeper than \(ProtoLimits.maxDepth)"
        case .invalidUTF8: what = "string field is not valid UTF-8"
        case .messageTooLarge: what = "message larger than the configured limit"
        case .nonZeroHeader: what = "WebSocket OpAMP header is not 0"
        }
        let field = path.isEmpty ? "" : " in field \(path)"
        return "\(what) at byte \(offset)\(field)"
    }
}

/// Fixed budgets every decoder enforces so hostile input cannot exhaust the stack.
public enum ProtoLimits {
    /// Deepest allowed nesting of messages and groups.
    public static let maxDepth = 64
}
