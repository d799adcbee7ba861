@testable import Core

/// Random field values for the generated `random(using:)` builders; deliberately includes the
/// edge values protobuf codecs get wrong (0, max, sign bit, empty, multi-byte UTF-8).
enum RandomValues {
    static let maxDepth = 4

    static func bytes(_ g: inout some RandomNumberGenerator) -> [UInt8] {
        let n = [0, 1, 16, Int.random(in: 0...40, using: &g)].randomElement(using: &g)!
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func string(_ g: inout some RandomNumberGenerator) -> String {
        let pieces = ["", "a", "service.name", "é", "日本", "🚀", "\"q\"", "\\", "\n", "x y", "\u{7F}", "\u{0}"]
        let n = Int.random(in: 0...4, using: &g)
        return (0..<n).map { _ in pieces.randomElement(using: &g)! }.joined()
    }

    static func uint64(_ g: inout some RandomNumberGenerator) -> UInt64 {
        [0, 1, 127, 128, UInt64(Int64.max), 1 << 63, .max, UInt64.random(in: 0...UInt64.max, using: &g)]
            .randomElement(using: &g)!
    }

    static func int64(_ g: inout some RandomNumberGenerator) -> Int64 {
        [0, 1, -1, .min, .max, Int64.random(in: .min ... .max, using: &g)].randomElement(using: &g)!
    }

    static func double(_ g: inout some RandomNumberGenerator) -> Double {
        [0.5, -1e300, 1e-300, 3.0, -0.25, Double.random(in: -1e6...1e6, using: &g)].randomElement(using: &g)!
    }

    static func enumRaw(_ g: inout some RandomNumberGenerator, known: Int) -> Int32 {
        Int.random(in: 0..<5, using: &g) == 0
            ? Int32.random(in: -5...100, using: &g) : Int32.random(in: 0..<Int32(known), using: &g)
    }
}

/// A small deterministic generator (SplitMix64) so property failures can be replayed by seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
