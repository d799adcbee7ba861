/// XOR masking (RFC 6455 §5.3), eight bytes per step: payloads are large and every client
/// byte passes through here.
enum WebSocketMask {
    /// Unmasks `bytes` in place; `key` holds the four mask bytes in wire order as they sit in
    /// memory, and `phase` is the offset of `bytes` within the frame payload.
    static func apply(key: UInt32, phase: Int, to bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // Build the 64-bit word through memory so it matches loads on either endianness.
        var keyBytes = key
        var word: UInt64 = 0
        withUnsafeBytes(of: &keyBytes) { k in
            withUnsafeMutableBytes(of: &word) { w in
                for i in 0..<8 { w[i] = k[(phase &+ i) & 3] }
            }
        }
        let count = bytes.count
        var i = 0
        while count &- i >= 8 {
            let v = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: v ^ word, toByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        withUnsafeBytes(of: &word) { w in
            var k = 0
            while i < count {
                bytes[i] ^= w[k]
                i &+= 1
                k &+= 1
            }
        }
    }
}
