/// ALPN: OpAMP is HTTP/1.1 (and WebSocket over it); a client that offers only other protocols
/// is served without ALPN rather than refused.
enum ALPN {
    /// The one protocol the listener selects.
    static let http11Name: [UInt8] = Array("http/1.1".utf8)

    /// Where the name "http/1.1" starts in a client's offered list (names each prefixed with
    /// their length byte), or nil when it is not offered or the list is malformed.
    static func http11(in offered: RawSpan) -> Int? {
        var i = 0
        let count = offered.byteCount
        while i < count {
            let length = Int(offered.unsafeLoad(fromByteOffset: i, as: UInt8.self))
            let start = i + 1
            guard start + length <= count else { return nil }
            if length == http11Name.count
                && (0..<length).allSatisfy({
                    offered.unsafeLoad(fromByteOffset: start + $0, as: UInt8.self) == http11Name[$0]
                })
            {
                return start
            }
            i = start + length
        }
        return nil
    }
}
