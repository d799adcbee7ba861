/// XOR masking (RFC 6455 §5.3), eight bytes per step: payloads are large and every client
/// byte passes through here.
enum WebSocketMask {
    /// Unmasks `bytes` from offset `start` on, in place; `key` holds the four mask bytes in wire
    /// order as they sit in memory, and `phase` is the offset of byte `start` within the frame
    /// payload.
    static func apply(key: UInt32, phase: Int, to bytes: inout MutableRawSpan, from start: Int = 0) {
        let count = bytes.byteCount
        precondition(start >= 0 && start <= count, "start outside the bytes")
        guard count > start else { return }
        // Mask byte i in memory order is byte i of the little-endian value on either endianness;
        // the word is built little-endian and converted, so it matches native loads.
        let k = key.littleEndian
        func keyByte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: k >> (8 * UInt32((phase &+ i &- start) & 3))) }
        var little: UInt64 = 0
        for i in 0..<8 { little |= UInt64(keyByte(start &+ i)) << (8 * UInt64(i)) }
        let word = UInt64(littleEndian: little)
        // Offsets below `count` only: the unchecked accesses stay inside the span.
        var i = start
        while count &- i >= 8 {
            let v = bytes.unsafeLoadUnaligned(fromUncheckedByteOffset: i, as: UInt64.self)
            bytes.storeBytes(of: v ^ word, toUncheckedByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        while i < count {
            let v = bytes.unsafeLoad(fromUncheckedByteOffset: i, as: UInt8.self)
            bytes.storeBytes(of: v ^ keyByte(i), toUncheckedByteOffset: i, as: UInt8.self)
            i &+= 1
        }
    }
}
