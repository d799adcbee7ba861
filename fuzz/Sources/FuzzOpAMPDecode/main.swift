import Core

/// libFuzzer entry: every byte string must decode or fail with a typed error, never trap;
/// whatever decodes must survive re-encoding, JSON, the WebSocket framing and the session. (JSON
/// text itself is the input of FuzzCanonicalJSON.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOpAMPDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: data, count: size))
    FuzzChecks.agentToServer(bytes)
    FuzzChecks.serverToAgent(bytes)
    if let body = try? OpAMPWebSocketPayload.body(of: bytes) {
        FuzzChecks.agentToServer(body)
    }
    return 0
}

enum FuzzChecks {
    struct Zero: InstanceUIDGenerator {
        mutating func next() -> InstanceUID { InstanceUID(high: 0, low: 1) }
    }

    static func agentToServer(_ bytes: RawSpan) {
        guard let owned = try? AgentToServer(validating: bytes) else {
            // The view path must refuse exactly what the owned path refuses.
            if (try? AgentToServerView.decode(bytes) { _ in true }) != nil {
                fatalError("view accepted what the owned decoder refused")
            }
            return
        }
        // Compared as encodings, not with ==: a NaN double is never equal to itself.
        let encoded = owned.serializedBytes()
        let again = try? AgentToServer(serializedBytes: encoded)
        if again?.serializedBytes() != encoded {
            fatalError("AgentToServer re-encoding changed the message")
        }
        let viaView = try? AgentToServerView.decode(bytes) { $0.owned() }
        if viaView?.serializedBytes() != encoded { fatalError("view and owned decoding disagree") }
        if owned.encodedSize != owned.serializedBytes().count { fatalError("encodedSize is wrong") }
        let json = owned.jsonString(pretty: false)
        // JSON spells every NaN the same way, so NaN payload bits cannot survive it.
        if let back = try? AgentToServer(jsonText: json), back.serializedBytes() != encoded,
            !json.contains("NaN")
        {
            fatalError("JSON round trip changed the message")
        }
        var session = AgentSession()
        var uids = Zero()
        _ = try? AgentToServerView.decode(bytes) { view in
            let (reply, _) = session.receive(view, desired: DesiredState(), uids: &uids)
            if (try? ServerToAgent(serializedBytes: reply.serializedBytes())) == nil {
                fatalError("session produced an undecodable reply")
            }
        }
    }

    static func serverToAgent(_ bytes: RawSpan) {
        guard let owned = try? ServerToAgent(validating: bytes) else { return }
        let encoded = owned.serializedBytes()
        let again = try? ServerToAgent(serializedBytes: encoded)
        if again?.serializedBytes() != encoded {
            fatalError("ServerToAgent re-encoding changed the message")
        }
    }
}
