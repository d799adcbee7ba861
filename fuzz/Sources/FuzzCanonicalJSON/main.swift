import Core

/// libFuzzer entry: any text must be refused by the canonical-JSON reader with a typed error or
/// read into a message whose JSON reads back to the same message (`ampora-tool opamp` and the
/// golden vectors rely on both directions agreeing).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanonicalJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    if let message = try? AgentToServer(json: value) {
        JSONRoundTrip.check(message)
    }
    if let message = try? ServerToAgent(json: value) {
        JSONRoundTrip.check(message)
    }
    return 0
}

enum JSONRoundTrip {
    /// Written out and read again, a message keeps its encoding; NaN payload bits are the one
    /// thing JSON cannot carry.
    static func check<M: ProtoMessage>(_ message: M) {
        let encoded = message.serializedBytes()
        let json = message.jsonString(pretty: false)
        guard let again = try? M(jsonText: json) else { fatalError("our own JSON was refused: \(json)") }
        if again.serializedBytes() != encoded, !json.contains("NaN") {
            fatalError("JSON round trip changed the message: \(json)")
        }
        if again.jsonString(pretty: false) != json { fatalError("JSON is not stable: \(json)") }
        if (try? M(serializedBytes: encoded))?.serializedBytes() != encoded {
            fatalError("binary round trip changed the message")
        }
    }
}
