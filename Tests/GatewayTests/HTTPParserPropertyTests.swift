import Testing

@testable import Gateway
@testable import GatewayCore

/// SplitMix64: a tiny seeded generator, so every failing case can be replayed from its seed.
private struct HTTPSplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a generated request must parse back to.
private struct ExpectedRequest: Equatable {
    var method: String
    var target: String
    var version: HTTPVersion
    var fields: [String]
    var body: [UInt8]

    init(method: String, target: String, version: HTTPVersion, fields: [String], body: [UInt8]) {
        (self.method, self.target, self.version, self.fields, self.body) = (method, target, version, fields, body)
    }

    init(_ request: HTTPRequest) {
        self.init(
            method: request.method, target: request.target, version: request.version,
            fields: request.headers.map { "\($0.name): \($0.value)" }, body: request.body)
    }
}

/// Random valid requests, with the wire bytes and what they mean.
private struct RequestGenerator {
    var rng: HTTPSplitMix64

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    mutating func string(_ alphabet: String, _ length: ClosedRange<Int>) -> String {
        let characters = Array(alphabet)
        return String((0..<int(length)).map { _ in pick(characters) })
    }

    mutating func request() -> (wire: [UInt8], expected: ExpectedRequest) {
        let version: HTTPVersion = int(0...4) == 0 ? .http10 : .http11
        let method = pick(["GET", "POST", "PUT", "BREW", "M-SEARCH", "DELETE"])
        let target = "/" + string("abcxyz019-._~%/?=&", 0...40)
        var fields: [(String, String)] = []
        if version == .http11 || int(0...1) == 0 {
            fields.append(
                ("Host", string("abc.123-", 1...20) + (int(0...1) == 0 ? "" : ":" + string("0123456789", 0...5))))
        }
        for _ in 0..<int(0...8) {
            let name = "X-" + string("abcdefXYZ0189-_!#$%&'*+.^`|~", 1...12)
            let value = string("abc XYZ 019\t,;=\"/()", 0...60).trimmingOWS()
            fields.append((name, value))
        }
        let body = (0..<int(0...300)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let framing = version == .http11 ? int(0...2) : int(0...1)
        var trailers = ""
        var payload: [UInt8] = []
        switch framing {
        case 1:
            fields.insert(("Content-Length", String(body.count)), at: int(0...fields.count))
            payload = body
        case 2:
            fields.insert(("Transfer-Encoding", "chunked"), at: int(0...fields.count))
            payload = chunked(body)
            for _ in 0..<int(0...2) { trailers += "T-\(int(0...99)): \(string("abc ", 0...10))\r\n" }
        default:
            break
        }
        var head = "\(method) \(target) HTTP/1.\(version.minor)\r\n"
        for (name, value) in fields {
            let before = pick(["", " ", "  ", "\t"])
            let after = pick(["", " ", "\t "])
            head += "\(name):\(before)\(value)\(after)\r\n"
        }
        head += "\r\n"
        let wire = Array(head.utf8) + payload + (framing == 2 ? Array((trailers + "\r\n").utf8) : [])
        let expected = ExpectedRequest(
            method: method, target: target, version: version, fields: fields.map { "\($0.0): \($0.1)" },
            body: framing == 0 ? [] : body)
        return (wire, expected)
    }

    /// The body as random chunks with random extensions, without the final CRLF after the trailers.
    mutating func chunked(_ body: [UInt8]) -> [UInt8] {
        var wire: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let size = int(1...(body.count - offset))
            let digits = String(size, radix: 16, uppercase: int(0...1) == 0)
            let ext = pick(["", ";a", ";a=b", " ;x=\"q;\"", ";n=1;m"])
            wire += Array("\(String(repeating: "0", count: int(0...2)))\(digits)\(ext)\r\n".utf8)
            wire += body[offset..<(offset + size)]
            wire += Array("\r\n".utf8)
            offset += size
        }
        wire += Array("0\(pick(["", ";end"]))\r\n".utf8)
        return wire
    }

    /// A stream split point generator: sizes from 1 to a few hundred bytes.
    mutating func chunkSize(_ remaining: Int) -> Int {
        int(0...3) == 0 ? 1 : int(1...max(1, min(remaining, 300)))
    }
}

extension String {
    fileprivate func trimmingOWS() -> String {
        String(decoding: HTTPSyntax.trimmed(ArraySlice(utf8)), as: UTF8.self)
    }
}

@Suite struct HTTPParserPropertyTests {
    @Test func randomValidRequestsSurviveRandomSplits() {
        for seed in UInt64(1)...200 {
            var generator = RequestGenerator(rng: HTTPSplitMix64(state: seed))
            var stream: [UInt8] = []
            var expected: [ExpectedRequest] = []
            for _ in 0..<generator.int(1...6) {
                let (wire, meaning) = generator.request()
                stream += wire
                expected.append(meaning)
            }
            let whole = runParser(stream) { $0 }
            #expect(whole.requests.map(ExpectedRequest.init) == expected, "seed \(seed)")
            #expect(whole.events.count == expected.count, "seed \(seed)")
            #expect(whole.phase == .idle, "seed \(seed)")
            #expect(whole.retainedCapacity == 0, "seed \(seed)")
            let split = runParser(stream) { generator.chunkSize($0) }
            #expect(split == whole, "seed \(seed)")
            let single = runParser(stream) { _ in 1 }
            #expect(single == whole, "seed \(seed)")
        }
    }

    @Test func mutatedStreamsParseTheSameHoweverSplit() {
        let limits = HTTPLimits(maxRequestLineBytes: 64, maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 200)
        for seed in UInt64(1)...300 {
            var generator = RequestGenerator(rng: HTTPSplitMix64(state: seed &* 7919))
            var stream: [UInt8] = []
            for _ in 0..<generator.int(1...3) { stream += generator.request().wire }
            for _ in 0..<generator.int(1...3) where !stream.isEmpty {
                let at = generator.int(0...(stream.count - 1))
                switch generator.int(0...2) {
                case 0: stream[at] = generator.pick([0, 9, 10, 13, 32, 58, 59, 0x30, 0x41, 0x7F, 0xFF])
                case 1: stream.insert(generator.pick([10, 13, 32, 9, 58, 0x61]), at: at)
                default: stream.remove(at: at)
                }
            }
            let whole = runParser(stream, limits: limits) { $0 }
            let split = runParser(stream, limits: limits) { generator.chunkSize($0) }
            let single = runParser(stream, limits: limits) { _ in 1 }
            #expect(split == whole, "seed \(seed)")
            #expect(single == whole, "seed \(seed)")
            if whole.phase == .idle || whole.phase == .failed { #expect(whole.retainedCapacity == 0, "seed \(seed)") }
            #expect(whole.bufferedBytes <= 64 + 256 + 200 + 64, "seed \(seed)")
        }
    }
}
