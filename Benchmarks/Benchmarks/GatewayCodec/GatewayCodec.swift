// The gateway's per-message byte work: WebSocket framing (client frames in, server frames
// out, the handshake's accept value), HTTP/1.1 request parsing, and config hashing.
// Like CoreCodec, every benchmark runs 1000 operations per measured iteration (scalingFactor
// .kilo), so times and malloc counts are per operation.

import Benchmark
import CBenchCrypto
import GatewayCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )
    GatewayFixtures.check()

    // 5a. The steady-state path: a heartbeat frame parsed where it lies. The all-zero mask
    // (legal in RFC 6455) leaves the bytes unchanged, so every operation parses the same frame.
    Benchmark("5a WebSocket parse: 31 B heartbeat frame, in place") { benchmark in
        var frame = GatewayFixtures.clientFrame(GatewayFixtures.heartbeatPayload, mask: 0)
        var parser = WebSocketFrameParser()
        var elements = frame.mutableSpan
        var raw = elements.mutableBytes
        for _ in benchmark.scaledIterations {
            var offset = 0
            if case .binary(let payload)? = parser.nextEvent(unmaskingInPlace: &raw, from: &offset) {
                blackHole(payload.byteCount)
            }
        }
    }

    // 5b. A full status (1.4 KB) through the copying entry point, masked as clients send it.
    Benchmark("5b WebSocket parse: 1.4 KB full status frame, owned copy") { benchmark in
        let frame = GatewayFixtures.clientFrame(GatewayFixtures.fullStatusPayload, mask: 0x3A5C_77E1)
        var parser = WebSocketFrameParser()
        let raw = frame.span.bytes
        for _ in benchmark.scaledIterations {
            var offset = 0
            if case .binary(let payload)? = parser.nextEvent(in: raw, from: &offset) {
                blackHole(payload.count)
            }
        }
    }

    // 5c. A server frame: header plus a 23-byte reply appended to a reused send buffer.
    Benchmark("5c WebSocket write: 23 B reply frame into a reused buffer") { benchmark in
        let reply = [UInt8](repeating: 0x2A, count: 23)
        var out: [UInt8] = []
        out.reserveCapacity(256)
        do {
            let raw = reply.span.bytes
            for _ in benchmark.scaledIterations {
                out.removeAll(keepingCapacity: true)
                WebSocketFrameWriter.append(.binary, payload: raw, to: &out)
                blackHole(out.count)
            }
        }
    }

    // 5d. The handshake's Sec-WebSocket-Accept: SHA-1 (OpenSSL) and base64, once per agent.
    Benchmark("5d WebSocket handshake: Sec-WebSocket-Accept value") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="))
        }
    }

    // 6a. A plain-HTTP OpAMP poll: request line, 5 headers and a 25-byte body.
    Benchmark("6a HTTP parse: OpAMP POST with a 25 B body") { benchmark in
        let request = GatewayFixtures.httpPost
        var parser = HTTPRequestParser()
        let raw = request.span.bytes
        for _ in benchmark.scaledIterations {
            if case .request(let r)? = parser.feed(raw).event { blackHole(r.body.count) }
        }
    }

    // 6b. The WebSocket upgrade request every agent sends once per connection.
    Benchmark("6b HTTP parse: WebSocket upgrade GET") { benchmark in
        let request = GatewayFixtures.upgradeRequest
        var parser = HTTPRequestParser()
        let raw = request.span.bytes
        for _ in benchmark.scaledIterations {
            if case .request(let r)? = parser.feed(raw).event { blackHole(r.isWebSocketUpgrade) }
        }
    }

    // 7. Config hashing: SHA-256 of a 4 KB collector YAML, the content address of a config
    // blob. OpenSSL called directly: the floor under Fleet's ConfigHash.of.
    Benchmark("7 config hash: SHA-256 of a 4 KB YAML (OpenSSL)") { benchmark in
        let blob = GatewayFixtures.configYAML
        var digest = [UInt8](repeating: 0, count: 32)
        blob.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations {
                    blackHole(SHA256(input.baseAddress, input.count, out.baseAddress))
                }
            }
        }
    }
}
