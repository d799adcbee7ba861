import PropertyBased
import Testing

@testable import Core

@Suite struct CodecTests {
    func decodeError(_ bytes: [UInt8]) -> ProtoDecodeError? {
        do {
            _ = try AgentToServer(serializedBytes: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func malformedInputNamesKindOffsetAndPath() {
        // agent_description { identifying_attributes { key: <0xFF> } }
        let bytes: [UInt8] = [0x1A, 0x05, 0x0A, 0x03, 0x0A, 0x01, 0xFF]
        let e = decodeError(bytes)
        #expect(e?.kind == .invalidUTF8)
        #expect(e?.offset == 6)
        #expect(e?.path == "agentDescription.identifyingAttributes.key")
    }

    @Test func truncatedAndOverlongVarints() {
        #expect(decodeError([0x10, 0x80])?.kind == .truncated)
        #expect(decodeError([0x10] + Array(repeating: 0xFF, count: 10) + [0x01])?.kind == .varintTooLong)
        #expect(decodeError([0x10] + Array(repeating: 0xFF, count: 9) + [0x01]) == nil)
    }

    @Test func lengthPastEnclosingMessage() {
        // agent_description of length 2 whose inner field claims 5 bytes.
        let e = decodeError([0x1A, 0x02, 0x0A, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00])
        #expect(e?.kind == .lengthOutOfBounds)
        #expect(e?.path == "agentDescription.identifyingAttributes")
        #expect(decodeError([0x0A, 0x10, 0x00])?.kind == .lengthOutOfBounds)
    }

    @Test func fieldZeroAndBadWireTypes() {
        #expect(decodeError([0x00, 0x00])?.kind == .fieldNumberZero)
        #expect(decodeError([0x16])?.kind == .invalidWireType(6))
        #expect(decodeError([0x17])?.kind == .invalidWireType(7))
        #expect(decodeError([0x8C, 0x01])?.kind == .unmatchedEndGroup)
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        let bytes: [UInt8] = [
            0xA8, 0x06, 0x01,  // field 101 varint
            0xB1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8,  // field 102 fixed64
            0xBA, 0x06, 0x02, 0xAA, 0xBB,  // field 103 bytes
            0xC5, 0x06, 1, 2, 3, 4,  // field 104 fixed32
            0xCB, 0x06, 0x08, 0x01, 0xCC, 0x06,  // field 105 group { 1: 1 }
            0x10, 0x07,  // sequence_num = 7
        ]
        let m = try AgentToServer(serializedBytes: bytes)
        #expect(m.sequenceNum == 7)
        #expect(m.serializedBytes() == [0x10, 0x07])
    }

    @Test func knownFieldWithWrongWireTypeIsTreatedAsUnknown() throws {
        // sequence_num (a varint field) sent length-delimited: skipped, as protobuf does.
        let m = try AgentToServer(serializedBytes: [0x12, 0x01, 0x05, 0x20, 0x03])
        #expect(m.sequenceNum == 0)
        #expect(m.capabilities == 3)
        try withSpan([UInt8]([0x12, 0x01, 0x05, 0x20, 0x03])) { raw in
            try AgentToServerView.decode(raw) { view in
                #expect(view.sequenceNum == 0)
                #expect(view.capabilities == 3)
            }
        }
    }

    @Test func nestingIsBounded() {
        // AnyValue.kvlist_value -> KeyValueList.values -> KeyValue.value -> AnyValue ... 200 deep.
        var inner: [UInt8] = []
        for _ in 0..<200 {
            var kv: [UInt8] = [0x12]  // KeyValue.value
            kv += varint(inner.count) + inner
            var list: [UInt8] = [0x0A]  // KeyValueList.values
            list += varint(kv.count) + kv
            var any: [UInt8] = [0x32]  // AnyValue.kvlist_value
            any += varint(list.count) + list
            inner = any
        }
        var attr: [UInt8] = [0x12] + varint(inner.count) + inner  // KeyValue.value
        attr = [0x0A] + varint(attr.count) + attr  // AgentDescription.identifying_attributes
        let message: [UInt8] = [0x1A] + varint(attr.count) + attr
        #expect(decodeError(message)?.kind == .depthLimitExceeded)
    }

    @Test func duplicateMapKeysLastWins() throws {
        func entry(_ key: String, _ type: String) -> [UInt8] {
            let file: [UInt8] = [0x12] + varint(type.utf8.count) + Array(type.utf8)
            let body: [UInt8] = [0x0A] + varint(key.utf8.count) + Array(key.utf8) + [0x12] + varint(file.count) + file
            return [0x0A] + varint(body.count) + body
        }
        let map = entry("a", "first") + entry("b", "x") + entry("a", "second")
        let configMap: [UInt8] = [0x0A] + varint(map.count) + map  // EffectiveConfig.config_map
        let message: [UInt8] = [0x32] + varint(configMap.count) + configMap
        let owned = try AgentToServer(serializedBytes: message)
        #expect(owned.effectiveConfig?.configMap?.configMap["a"]?.contentType == "second")
        try withSpan(message) { raw in
            try AgentToServerView.decode(raw) { view in
                let files = view.effectiveConfig!.configMap!.configMap
                #expect(files.count == 2)
                #expect(files["a"]?.contentType.string == "second")
                // The repeat sends the message to the merge path: its canonical copy lists keys sorted.
                #expect(files.map { $0.key.string } == ["a", "b"])
            }
        }
        #expect(try Self.needsMerge(message))
    }

    /// Whether validation sends `message` (an `AgentToServer`) to the merge path.
    static func needsMerge(_ message: [UInt8]) throws -> Bool {
        try withSpan(message) { raw throws(ProtoDecodeError) in
            var r = WireReader(raw)
            return try AgentToServer._validate(&r, depth: 0)
        }
    }

    /// An `AgentToServer` whose effective config map has one entry per key, in order.
    static func configMapMessage(_ keys: [String]) -> [UInt8] {
        var map: [UInt8] = []
        for key in keys {
            let file: [UInt8] = [0x12, 0x01, 0x41]  // AgentConfigFile.content_type = "A"
            let body: [UInt8] = [0x0A] + varint(key.utf8.count) + Array(key.utf8) + [0x12] + varint(file.count) + file
            map += [0x0A] + varint(body.count) + body
        }
        let configMap: [UInt8] = [0x0A] + varint(map.count) + map
        return [0x32] + varint(configMap.count) + configMap
    }

    @Test func distinctMapKeysStayOnTheViewPathInWireOrder() throws {
        // Keys that differ only in the middle hash alike: each is compared exactly, none repeats.
        let keys = (0..<5).map { "receiver/otlp-\($0)-shared-suffix" } + ["a", "", "b"]
        let message = Self.configMapMessage(keys)
        #expect(try Self.needsMerge(message) == false)
        try withSpan(message) { raw in
            try AgentToServerView.decode(raw) { view in
                #expect(view.effectiveConfig?.configMap?.configMap.map { $0.key.string } == keys)
            }
        }
        #expect(try Self.needsMerge(Self.configMapMessage(["", "x", ""])))
    }

    @Test func manyKeysThatHashAlikeTakeTheMergePathNotQuadraticChecks() throws {
        // Past the filter's budget of exact comparisons a collision counts as a repeat: the
        // merge path is right for any input, and crafted keys cannot make validation quadratic.
        let keys = (0..<2_000).map { "prefix--\($0)--suffix" }
        var filter = MapKeyFilter()
        let message = Self.configMapMessage(keys)
        #expect(try Self.needsMerge(message))
        let owned = try AgentToServer(serializedBytes: message)
        #expect(owned.effectiveConfig?.configMap?.configMap.count == keys.count)
        try withSpan(message) { raw in
            try AgentToServerView.decode(raw) { view in
                let read = view.effectiveConfig?.configMap?.configMap.map { $0.key.string } ?? []
                #expect(read == keys.sorted())
            }
            // The filter alone: every entry of the map, in order, against one budget.
            var r = WireReader(raw)
            _ = try r.readTag()
            var outer = r.nested(try r.readLengthDelimited())  // EffectiveConfig
            _ = try outer.readTag()
            var map = outer.nested(try outer.readLengthDelimited())  // AgentConfigMap
            let start = map.pos
            var repeats = 0
            while !map.isAtEnd {
                _ = try map.readTag()
                if filter.repeats(raw, try map.readLengthDelimited(), 1, after: start) { repeats += 1 }
            }
            // At most 64 first hits of a bit and the budget's exact checks answer "new key".
            #expect(repeats >= keys.count - 64 - MapKeyFilter.exactCheckBudget)
        }
    }

    @Test func repeatedKeyInsideOneMapEntryLastWins() throws {
        // One config_map entry that carries key "a", then key "b": protobuf keeps "b".
        let file: [UInt8] = [0x12, 0x01, 0x41]  // AgentConfigFile.content_type = "A"
        let body: [UInt8] = [0x0A, 0x01, 0x61, 0x0A, 0x01, 0x62, 0x12] + varint(file.count) + file
        let entry: [UInt8] = [0x0A] + varint(body.count) + body
        let configMap: [UInt8] = [0x0A] + varint(entry.count) + entry
        let message: [UInt8] = [0x32] + varint(configMap.count) + configMap
        let owned = try AgentToServer(serializedBytes: message)
        #expect(owned.effectiveConfig?.configMap?.configMap.keys.sorted() == ["b"])
        try withSpan(message) { raw in
            try AgentToServerView.decode(raw) { view in
                #expect(view.effectiveConfig?.configMap?.configMap.map { $0.key.string } == ["b"])
            }
        }
    }

    @Test func repeatedSingularSubMessagesMerge() throws {
        // Two remote_config_status occurrences: the hash from the first, status from the second.
        let message: [UInt8] = [0x3A, 0x03, 0x0A, 0x01, 0xAB, 0x3A, 0x02, 0x10, 0x01]
        let owned = try AgentToServer(serializedBytes: message)
        #expect(owned.remoteConfigStatus?.lastRemoteConfigHash == [0xAB])
        #expect(owned.remoteConfigStatus?.status == .applied)
        try withSpan(message) { raw in
            try AgentToServerView.decode(raw) { view in
                #expect(view.remoteConfigStatus?.lastRemoteConfigHash.array == [0xAB])
                #expect(view.remoteConfigStatus?.status == .applied)
            }
        }
    }

    @Test func sizesAreExactSoEncodingNeverReallocates() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var g = SeededGenerator(seed: seed)
            let m = ServerToAgent.random(using: &g)
            var w = ProtoWriter(capacity: 0)
            m.encode(into: &w)
            #expect(w.bytes.count == m.encodedSize)
        }
    }

    @Test func encodeThenDecodeIsIdentity() async {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var g = SeededGenerator(seed: seed)
            let a = AgentToServer.random(using: &g)
            #expect((try? AgentToServer(serializedBytes: a.serializedBytes())) == a)
            let s = ServerToAgent.random(using: &g)
            #expect((try? ServerToAgent(serializedBytes: s.serializedBytes())) == s)
        }
    }

    @Test func jsonRoundTripIsIdentity() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var g = SeededGenerator(seed: seed)
            let a = AgentToServer.random(using: &g)
            #expect((try? AgentToServer(jsonText: a.jsonString())) == a)
            let s = ServerToAgent.random(using: &g)
            #expect((try? ServerToAgent(jsonText: s.jsonString(pretty: false))) == s)
        }
    }

    @Test func viewsAgreeWithOwnedDecoding() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var g = SeededGenerator(seed: seed)
            let a = AgentToServer.random(using: &g)
            let bytes = a.serializedBytes()
            let viaView = try? AgentToServerView.decode(bytes.span.bytes) { $0.owned() }
            #expect(viaView == a)
        }
    }

    @Test func truncationNeverTraps() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var g = SeededGenerator(seed: seed)
            let bytes = AgentToServer.random(using: &g).serializedBytes()
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 16)) {
                _ = try? AgentToServer(serializedBytes: bytes[..<cut])
                var flipped = bytes
                flipped[cut] ^= 0xFF
                _ = try? AgentToServer(serializedBytes: flipped)
            }
        }
    }

    @Test func canonicalJSONShapes() throws {
        var m = AgentToServer()
        m.instanceUid = [0xFF, 0xEE]
        m.sequenceNum = UInt64.max
        m.agentDisconnect = AgentDisconnect()
        var rcs = RemoteConfigStatus()
        rcs.status = .failed
        m.remoteConfigStatus = rcs
        let json = try JSONParser.parse(Array(m.jsonString().utf8))
        #expect(json["instanceUid"] == .string("/+4="))
        #expect(json["sequenceNum"] == .string("18446744073709551615"))
        #expect(json["agentDisconnect"] == .object([]))
        #expect(json["remoteConfigStatus"]?["status"] == .string("RemoteConfigStatuses_FAILED"))
        #expect(json["capabilities"] == nil)
    }

    @Test func jsonErrorsNameTheField() {
        #expect(throws: JSONError.self) { try AgentToServer(jsonText: #"{"sequenceNum": "x"}"#) }
        do {
            _ = try AgentToServer(jsonText: #"{"agentDescription": {"identifyingAttributes": [{"key": 1}]}}"#)
            Issue.record("expected an error")
        } catch let e as JSONError {
            #expect(e.path == "agentDescription.identifyingAttributes.[0].key")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func webSocketHeader() throws {
        let framed: [UInt8] = [0x00, 0x10, 0x05]
        try withSpan(framed) { raw in
            let body = try OpAMPWebSocketPayload.body(of: raw)
            #expect(body.byteArray == [0x10, 0x05])
        }
        let legacy: [UInt8] = [0x10, 0x05]
        try withSpan(legacy) { raw in
            let body = try OpAMPWebSocketPayload.body(of: raw)
            #expect(body.byteArray == [0x10, 0x05])
            #expect(throws: ProtoDecodeError.self) { _ = try OpAMPWebSocketPayload.body(of: raw, acceptLegacy: false) }
        }
    }

    /// The span version (what the gateway decodes from) drops the same header bytes.
    @Test func webSocketHeaderOfASpan() throws {
        func body(_ bytes: [UInt8], acceptLegacy: Bool = true) throws -> [UInt8] {
            let span = try OpAMPWebSocketPayload.body(of: bytes.span.bytes, acceptLegacy: acceptLegacy)
            return span.byteArray
        }
        #expect(try body([0x00, 0x10, 0x05]) == [0x10, 0x05])
        #expect(try body([0x10, 0x05]) == [0x10, 0x05])
        #expect(try body([]) == [])
        #expect(throws: ProtoDecodeError.self) { try body([0x10, 0x05], acceptLegacy: false) }
    }
}

func varint(_ n: Int) -> [UInt8] {
    var w = ProtoWriter()
    w.writeVarint(UInt64(n))
    return w.bytes
}

/// Lends `bytes` to `body` as a span, the form the decoders take.
func withSpan<R, E: Error>(_ bytes: [UInt8], _ body: (RawSpan) throws(E) -> R) throws(E) -> R {
    try body(bytes.span.bytes)
}
