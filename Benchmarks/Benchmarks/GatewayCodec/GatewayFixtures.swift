import GatewayCore

/// Inputs for the gateway benchmarks, built once before measuring.
enum GatewayFixtures {
    /// A WebSocket OpAMP heartbeat: the 0x00 header, instance_uid, sequence_num, capabilities.
    static let heartbeatPayload: [UInt8] = {
        var p: [UInt8] = [0x00, 0x0A, 16]
        p += (0..<16).map { UInt8($0 &* 17) }
        p += [0x10, 0x96, 0x01, 0x20, 0x87, 0x70]  // sequence_num 150, capabilities 0x3807
        return p
    }()

    /// A payload the size of the load generator's full status (1.4 KB), content irrelevant to
    /// the frame parser.
    static let fullStatusPayload: [UInt8] = [0x00] + (0..<1_400).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    /// A 4 KB collector config, the size the push scenario assigns.
    static let configYAML: [UInt8] = {
        var text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\n"
        text += "processors:\n  attributes/bench:\n    actions:\n"
        var i = 0
        while text.utf8.count < 4_000 {
            text += "      - key: bench.attr.\(i)\n        value: pushed\n        action: upsert\n"
            i += 1
        }
        return Array(text.utf8.prefix(4_096))
    }()

    static let httpPost: [UInt8] = {
        let body = Array(heartbeatPayload.dropFirst())
        let head =
            "POST /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1:4320\r\nUser-Agent: opamp-load\r\n"
            + "Content-Type: application/x-protobuf\r\nAccept-Encoding: gzip\r\nContent-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }()

    static let upgradeRequest: [UInt8] = Array(
        ("GET /v1/opamp HTTP/1.1\r\nHost: 127.0.0.1:4320\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "User-Agent: opamp-load\r\n\r\n").utf8)

    /// A masked client frame (RFC 6455 §5.2) carrying `payload` as one binary message.
    static func clientFrame(_ payload: [UInt8], mask: UInt32) -> [UInt8] {
        var f: [UInt8] = [0x82]
        if payload.count < 126 {
            f.append(0x80 | UInt8(payload.count))
        } else {
            f += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let key = [UInt8(mask >> 24), UInt8((mask >> 16) & 0xFF), UInt8((mask >> 8) & 0xFF), UInt8(mask & 0xFF)]
        f += key
        for (i, b) in payload.enumerated() { f.append(b ^ key[i & 3]) }
        return f
    }

    /// Each fixture parses as intended; a benchmark of a failing path would measure nothing.
    static func check() {
        var parser = WebSocketFrameParser()
        var ok = false
        let frame = clientFrame(fullStatusPayload, mask: 0x3A5C_77E1)
        var offset = 0
        if case .binary(let p)? = parser.nextEvent(in: frame.span.bytes, from: &offset) { ok = p == fullStatusPayload }
        precondition(ok, "full-status frame fixture does not parse")
        for request in [httpPost, upgradeRequest] {
            var http = HTTPRequestParser()
            let step = http.feed(request.span.bytes)
            guard case .request? = step.event, step.consumed == request.count else {
                preconditionFailure("HTTP fixture does not parse: \(String(describing: step.event))")
            }
        }
        precondition(
            WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }
}
