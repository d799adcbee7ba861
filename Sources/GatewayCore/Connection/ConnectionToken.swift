/// Connection tokens: the loop in the top 16 bits, a reuse counter, then the slot, so a push for
/// one uid goes straight to its connection instead of scanning the loop.
package enum ConnectionToken {
    package static func make(loop: Int, counter: UInt64, slot: UInt32) -> UInt64 {
        UInt64(loop) << 48 | (counter & 0xFFFF) << 32 | UInt64(slot)
    }

    package static func loop(_ token: UInt64) -> Int { Int(token >> 48) }
    package static func slot(_ token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token) }
}
