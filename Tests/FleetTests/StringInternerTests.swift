import Core
import Testing

@testable import Fleet

@Suite struct StringInternerTests {
    /// The address of a native string's UTF-8 bytes: equal for two values that share storage.
    static func storage(_ s: String) -> UnsafeRawPointer? {
        var copy = s
        return copy.withUTF8 { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func equalStringsShareOneStorage() {
        let interner = StringInterner(capacity: 10, maxLength: 64)
        let a = interner.intern(String("k8s.cluster.name=" + "prod-eu-west-1"))
        let b = interner.intern(String("k8s.cluster.name=" + "prod-eu-west-1"))
        #expect(a == b)
        #expect(Self.storage(a) == Self.storage(b))
        #expect(interner.count == 1)
        // Short strings are inline values: nothing to share, nothing held.
        #expect(interner.intern("os.type") == "os.type")
        #expect(interner.count == 1)
    }

    @Test func theTableStopsGrowingAtItsCapacity() {
        let interner = StringInterner(capacity: 3, maxLength: 64)
        for i in 0..<100 { _ = interner.intern("otel-gateway-7d9f8c6b5-pod-\(i)") }
        #expect(interner.count == 3)
        // What it holds is still shared; what came after passes through, equal.
        let first = interner.intern("otel-gateway-7d9f8c6b5-pod-0")
        #expect(Self.storage(first) == Self.storage(interner.intern("otel-gateway-7d9f8c6b5-pod-0")))
        #expect(interner.intern("otel-gateway-7d9f8c6b5-pod-99") == "otel-gateway-7d9f8c6b5-pod-99")
        #expect(interner.intern(String(repeating: "x", count: 65)).utf8.count == 65)
        #expect(interner.count == 3)
    }

    @Test func agentsWithTheSameAttributesShareTheirStrings() {
        var kv = KeyValue()
        kv.key = "k8s.deployment.name"
        var value = AnyValue()
        value.value = .stringValue("otel-gateway-in-every-region")
        kv.value = value
        var d = AgentDescription()
        d.nonIdentifyingAttributes = [kv]
        let one = AgentState.attributes(of: d)
        let two = AgentState.attributes(of: d)
        #expect(Self.storage(one[0].key) == Self.storage(two[0].key))
        #expect(Self.storage(one[0].value) == Self.storage(two[0].value))
    }
}
