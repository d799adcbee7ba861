/// An owned OpAMP protobuf message: decode, encode, and canonical JSON.
public protocol ProtoMessage: Sendable, Equatable {
    /// The default (empty) message.
    init()
    /// Exact number of bytes the binary encoding takes.
    var encodedSize: Int { get }
    /// Decodes and validates untrusted bytes.
    init(validating bytes: RawSpan) throws(ProtoDecodeError)
    /// Appends the binary encoding, reserving its exact size first.
    func encode(into writer: inout ProtoWriter)
    /// Writes protobuf canonical JSON.
    func writeJSON(to writer: inout JSONWriter)
    /// Reads protobuf JSON.
    init(json: JSONValue) throws
}

extension ProtoMessage {
    /// Decodes and validates an owned byte collection.
    public init(serializedBytes bytes: some Collection<UInt8>) throws(ProtoDecodeError) {
        let array = Array(bytes)
        try self.init(validating: array.span.bytes)
    }

    /// The binary encoding as a new array.
    public func serializedBytes() -> [UInt8] {
        var w = ProtoWriter(capacity: encodedSize)
        encode(into: &w)
        return w.bytes
    }

    /// The canonical JSON text.
    public func jsonString(pretty: Bool = true) -> String {
        var w = JSONWriter(pretty: pretty)
        writeJSON(to: &w)
        return w.text
    }

    /// Parses JSON text into a message.
    public init(jsonText: String) throws {
        try self.init(json: try JSONParser.parse(Array(jsonText.utf8)))
    }
}
