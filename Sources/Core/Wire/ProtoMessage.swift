/// An owned OpAMP protobuf message: decode, encode, and canonical JSON.
public protocol ProtoMessage: Sendable, Equatable {
    /// The default (empty) message.
    init()
    /// Exact number of bytes the binary encoding takes.
    var encodedSize: Int { get }
    /// Decodes and validates untrusted bytes.
    init(validating bytes: UnsafeRawBufferPointer) throws(ProtoDecodeError)
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
        let result: Result<Self, ProtoDecodeError> = array.withUnsafeBytes { raw in
            do throws(ProtoDecodeError) {
                return .success(try Self(validating: raw))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
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
