import Foundation
import Synchronization
import Testing

@testable import Gateway

/// The allocator functions handed to OpenSSL, called directly: the process's OpenSSL has long
/// allocated by the time a test runs, so `install` itself could only report that it is too late.
@Suite struct TLSRecordBuffersTests {
    init() { TLSRecordBuffers.prepare() }

    /// Runs `body` on a thread of its own, so that its stack starts empty and dies with it, and
    /// returns what it found (addresses as integers) for the test to check.
    private func onFreshThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        let thread = Thread {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }
        thread.start()
        done.wait()
        return result.withLock { $0! }
    }

    private static func address(_ pointer: UnsafeMutableRawPointer?) -> UInt { UInt(bitPattern: pointer) }

    @Test func aFreedRecordBufferIsHandedOutAgainOnTheSameThread() {
        let (first, second) = onFreshThread {
            let first = TLSRecordBuffers.allocate(16_720, nil, 0)
            TLSRecordBuffers.release(first, nil, 0)
            // Had the block gone back to malloc, this allocation would most likely get it.
            let decoy = malloc(TLSRecordBuffers.blockSize)
            let second = TLSRecordBuffers.allocate(17_000, nil, 0)
            free(decoy)
            // The whole block is usable whatever size was asked for.
            second?.storeBytes(of: 0xAB, toByteOffset: TLSRecordBuffers.blockSize - 1, as: UInt8.self)
            TLSRecordBuffers.release(second, nil, 0)
            return (Self.address(first), Self.address(second))
        }
        #expect(first != 0)
        #expect(second == first, "a record-sized request reuses the block just freed")
    }

    @Test(arguments: [100, 16 * 1024, TLSRecordBuffers.blockSize + 64])
    func otherSizesGoStraightToMalloc(size: Int) {
        let (record, other, next) = onFreshThread {
            let record = TLSRecordBuffers.allocate(16_720, nil, 0)
            TLSRecordBuffers.release(record, nil, 0)  // the stack: [record]
            let other = TLSRecordBuffers.allocate(size, nil, 0)
            TLSRecordBuffers.release(other, nil, 0)
            // Had `other` joined the stack, it would be on top now; and the record buffer is
            // still there, not in malloc's hands (where the decoy would take it).
            let decoy = malloc(TLSRecordBuffers.blockSize)
            let next = TLSRecordBuffers.allocate(17_000, nil, 0)
            free(decoy)
            TLSRecordBuffers.release(next, nil, 0)
            return (Self.address(record), Self.address(other), Self.address(next))
        }
        #expect(other != record, "\(size) bytes are not taken from the stack")
        #expect(next == record, "a block of \(size) bytes went back to malloc, not onto the stack")
    }

    @Test func theStackKeepsAtMostItsDepth() {
        let (kept, reused) = onFreshThread {
            let count = TLSRecordBuffers.depth + 4
            let blocks = (0..<count).map { _ in TLSRecordBuffers.allocate(17_000, nil, 0) }
            for block in blocks { TLSRecordBuffers.release(block, nil, 0) }
            let reused = (0..<count).map { _ in TLSRecordBuffers.allocate(17_000, nil, 0) }
            for block in reused { TLSRecordBuffers.release(block, nil, 0) }
            return (blocks.map(Self.address), reused.map(Self.address))
        }
        // The first `depth` blocks freed fill the stack, the rest go back to malloc; the stack
        // hands its blocks out newest first.
        #expect(Array(reused.prefix(TLSRecordBuffers.depth)) == Array(kept.prefix(TLSRecordBuffers.depth).reversed()))
    }
}
