import Testing

@testable import Gateway
@testable import GatewayCore

/// Seeded so a failure names a reproducible case.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct WebSocketChunkingPropertyTests {
    /// A random valid client stream and the events it must produce.
    static func randomStream(_ rng: inout SplitMix64) -> (bytes: [UInt8], expected: [WebSocketEvent]) {
        var bytes: [UInt8] = []
        var expected: [WebSocketEvent] = []
        func mask() -> [UInt8] { (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        func form(_ count: Int) -> LengthForm {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where count <= 0xFFFF: return .sixteen
            case 1: return .sixtyFour
            default: return .minimal
            }
        }
        func control() {
            let payload = (0..<Int.random(in: 0...125, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let isPing = Bool.random(using: &rng)
            bytes += clientFrame(isPing ? 0x9 : 0xA, payload, mask: mask())
            expected.append(isPing ? .ping(payload) : .pong(payload))
        }
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let big = Int.random(in: 0..<10, using: &rng) == 0
            let count = Int.random(in: 0...(big ? 70_000 : 300), using: &rng)
            let message = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let isText = Int.random(in: 0..<4, using: &rng) == 0
            var cuts = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...count, using: &rng) }
            cuts = ([0] + cuts.sorted() + [count])
            for i in 0..<(cuts.count - 1) {
                let piece = Array(message[cuts[i]..<cuts[i + 1]])
                let opcode: UInt8 = i == 0 ? (isText ? 0x1 : 0x2) : 0x0
                bytes += clientFrame(opcode, piece, fin: i == cuts.count - 2, mask: mask(), length: form(piece.count))
                if i < cuts.count - 2 && Bool.random(using: &rng) { control() }
            }
            expected.append(isText ? .text(message) : .binary(message))
            if Int.random(in: 0..<3, using: &rng) == 0 { control() }
        }
        if Bool.random(using: &rng) {
            bytes += clientFrame(0x8, [0x03, 0xE8] + Array("done".utf8), mask: mask())
            expected.append(.close(code: .normal, reason: "done"))
        }
        return (bytes, expected)
    }

    static func randomSplits(_ count: Int, _ rng: inout SplitMix64) -> [Int] {
        (0..<Int.random(in: 0...40, using: &rng)).map { _ in Int.random(in: 0...count, using: &rng) }.sorted()
    }

    @Test func randomChunkingNeverChangesTheEvents() {
        var rng = SplitMix64(state: 0x0A3F_0BA5)
        for iteration in 0..<150 {
            let (bytes, expected) = Self.randomStream(&rng)
            let splits = Self.randomSplits(bytes.count, &rng)
            var parser = WebSocketFrameParser()
            var events: [WebSocketEvent] = []
            var start = 0
            for end in splits + [bytes.count] {
                parser.feed(Array(bytes[start..<end]).span.bytes) { events.append($0) }
                start = end
            }
            #expect(events == expected, "iteration \(iteration)")
            #expect(parser.bufferedCapacity == 0, "iteration \(iteration)")
            let inPlace = parseEventsInPlace(bytes, splits: Self.randomSplits(bytes.count, &rng))
            #expect(inPlace.events == expected, "iteration \(iteration) in place")
            if events != expected { break }
        }
    }

    @Test func randomGarbageNeverTrapsAndChunkingAgrees() {
        var rng = SplitMix64(state: 42)
        for _ in 0..<300 {
            var bytes = Self.randomStream(&rng).bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let configuration = WebSocketFrameParser.Configuration(maxMessageSize: 50_000)
            let whole = parseEvents(bytes, configuration: configuration)
            let splits = Self.randomSplits(bytes.count, &rng)
            let inPlace = parseEventsInPlace(bytes, splits: splits, configuration: configuration)
            #expect(inPlace.events == whole)
            #expect(
                parseEvents(bytes, chunk: Int.random(in: 1...64, using: &rng), configuration: configuration) == whole)
        }
    }
}
