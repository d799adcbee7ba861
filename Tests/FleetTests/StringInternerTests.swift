import Core
import Testing

@testable import Fleet

@Suite struct StringInternerTests {
    /// The address of a native string's UTF-8 bytes: equal for two values that share storage.
    static func storage(_ s: String) -> UnsafeRawPointer? {
        var copy = s
        return copy.withUTF8 { UnsafeRawPointer($0.baseAddress) }
    }

    /// A string with storage of its own, as one decoded from an agent's message has (a literal
    /// would be one immortal copy in the binary, shared whatever the interner does).
    static func fresh(_ s: String) -> String { String(decoding: Array(s.utf8), as: UTF8.self) }

    /// An attribute pair of fresh strings.
    static func attribute(_ key: String, _ value: String) -> KeyValue {
        var kv = KeyValue()
        kv.key = fresh(key)
        var any = AnyValue()
        any.value = .stringValue(fresh(value))
        kv.value = any
        return kv
    }

    @Test func equalStringsShareOneStorage() {
        let text = "k8s.cluster.name=prod-eu-west-1"
        // The control: without the interner, two equal strings have storage of their own.
        #expect(Self.storage(Self.fresh(text)) != Self.storage(Self.fresh(text)))
        let interner = StringInterner(capacity: 10, maxLength: 64)
        let a = interner.intern(Self.fresh(text))
        let b = interner.intern(Self.fresh(text))
        #expect(a == b)
        #expect(Self.storage(a) == Self.storage(b))
        #expect(interner.count == 1)
        // Short strings are inline values: nothing to share, nothing held.
        #expect(interner.intern(Self.fresh("os.type")) == "os.type")
        #expect(interner.count == 1)
    }

    @Test func theTableStopsGrowingAtItsCapacity() {
        let interner = StringInterner(capacity: 3, maxLength: 64)
        for i in 0..<100 { _ = interner.intern("otel-gateway-7d9f8c6b5-pod-\(i)") }
        #expect(interner.count == 3)
        // What it holds is still shared; what came after passes through, equal but not shared.
        let first = Self.fresh("otel-gateway-7d9f8c6b5-pod-0")
        #expect(Self.storage(interner.intern(first)) == Self.storage(interner.intern(Self.fresh(first))))
        let late = Self.fresh("otel-gateway-7d9f8c6b5-pod-99")
        #expect(Self.storage(interner.intern(late)) == Self.storage(late))
        #expect(interner.intern(String(repeating: "x", count: 65)).utf8.count == 65)
        #expect(interner.count == 3)
    }

    @Test func agentsWithTheSameAttributesShareTheirStrings() {
        // Two agents' descriptions decoded separately: equal text, separate storage.
        func description() -> AgentDescription {
            var d = AgentDescription()
            d.nonIdentifyingAttributes = [Self.attribute("k8s.deployment.name", "otel-gateway-in-every-region")]
            return d
        }
        let one = AgentState.attributes(of: description())
        let two = AgentState.attributes(of: description())
        #expect(Self.storage(one[0].key) == Self.storage(two[0].key))
        #expect(Self.storage(one[0].value) == Self.storage(two[0].value))
    }
}
