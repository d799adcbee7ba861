/// The permessage-deflate (RFC 7692) terms the server agreed to. The server always answers
/// with both `no_context_takeover` parameters so neither side keeps a 32 KiB window per
/// connection between messages: idle agents stay cheap.
public struct WebSocketDeflateParameters: Sendable, Equatable {
    /// The `server_max_window_bits` the client asked for, if it did (8...15).
    public var serverMaxWindowBits: Int?

    /// Terms with the default 15-bit server window unless the client capped it.
    public init(serverMaxWindowBits: Int? = nil) {
        self.serverMaxWindowBits = serverMaxWindowBits
    }

    /// Whether the server may compress what it sends: zlib cannot produce an 8-bit window, so
    /// with `server_max_window_bits=8` the server sends uncompressed (always allowed).
    public var canCompressOutgoing: Bool { (serverMaxWindowBits ?? 15) >= 9 }

    /// Window bits for `WebSocketDeflater`.
    public var deflaterWindowBits: Int { serverMaxWindowBits ?? 15 }

    /// The `Sec-WebSocket-Extensions` value for the 101 response.
    public var responseHeaderValue: String {
        var value = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        if let bits = serverMaxWindowBits { value += "; server_max_window_bits=\(bits)" }
        return value
    }

    /// Picks the first acceptable permessage-deflate offer in a `Sec-WebSocket-Extensions`
    /// value; offers with unknown, repeated or out-of-range parameters are declined (§5).
    public static func negotiate(offers header: String?) -> WebSocketDeflateParameters? {
        guard let header else { return nil }
        for offer in WebSocketHeaderTokens.split(Array(header.utf8)[...], on: UInt8(ascii: ",")) {
            let parts = WebSocketHeaderTokens.split(offer, on: UInt8(ascii: ";"))
            guard WebSocketHeaderTokens.lowercased(Array(parts[0])) == Array("permessage-deflate".utf8) else {
                continue
            }
            if let accepted = accept(parameters: parts.dropFirst()) { return accepted }
        }
        return nil
    }

    private static func accept(parameters: ArraySlice<ArraySlice<UInt8>>) -> WebSocketDeflateParameters? {
        var seen: Set<[UInt8]> = []
        var result = WebSocketDeflateParameters(serverMaxWindowBits: nil)
        for parameter in parameters {
            let pieces = WebSocketHeaderTokens.split(parameter, on: UInt8(ascii: "="))
            let name = WebSocketHeaderTokens.lowercased(Array(pieces[0]))
            guard pieces.count <= 2, seen.insert(name).inserted else { return nil }
            let value = pieces.count == 2 ? WebSocketHeaderTokens.unquoted(pieces[1]) : nil
            switch String(decoding: name, as: UTF8.self) {
            case "server_no_context_takeover", "client_no_context_takeover":
                if value != nil { return nil }
            case "server_max_window_bits":
                guard let bits = windowBits(value) else { return nil }
                result.serverMaxWindowBits = bits
            case "client_max_window_bits":
                // Inflating with a 15-bit window reads any smaller window, so the value only
                // needs to be well-formed and the response can leave it out.
                if value != nil && windowBits(value) == nil { return nil }
            default:
                return nil
            }
        }
        return result
    }

    /// 8...15 written without leading zeros, as RFC 7692 §7.1.2 requires.
    private static func windowBits(_ value: [UInt8]?) -> Int? {
        guard let value, let first = value.first, first != UInt8(ascii: "0"), value.count <= 2,
            let bits = Int(String(decoding: value, as: UTF8.self)), (8...15).contains(bits)
        else { return nil }
        return bits
    }
}
