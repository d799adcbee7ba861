import CLinux
import COpenSSL
import Glibc

/// OpenSSL's record buffers, served from a short stack per thread.
///
/// The listener sets `SSL_MODE_RELEASE_BUFFERS` so that an idle TLS agent holds no record
/// buffers; the price is that OpenSSL allocates a buffer of about 17 KB for every record it
/// reads or writes and frees it right after: on every heartbeat, a large-bin request to glibc
/// (which consolidates the fast bins first when they hold chunks) and a buffer cold in cache.
/// Taken from a few buffers kept per thread it is a pop, of memory still in cache. Every other
/// allocation goes straight to glibc.
///
/// `install()` must run before OpenSSL allocates anything in the process (OpenSSL refuses new
/// allocator functions after its first allocation); it is then a no-op that reports `false`, and
/// OpenSSL keeps using malloc.
package enum TLSRecordBuffers {
    /// Requests from this size on are record buffers (16 KiB of payload plus overhead).
    static let smallest = 16 * 1024 + 1
    /// Every record buffer request fits in a block of this size.
    static let blockSize = 18 * 1024
    /// Blocks kept per thread: a loop seals and opens one record at a time, and a handful covers
    /// a handshake's flights.
    static let depth = 8

    nonisolated(unsafe) private static var key = pthread_key_t()
    /// `malloc_usable_size` of a block: how `free` recognises one without a header.
    nonisolated(unsafe) private static var usable = 0
    nonisolated(unsafe) private static var prepared = false
    /// Whether OpenSSL took the pool's functions (set once, at start, before any thread reads it).
    nonisolated(unsafe) package private(set) static var installed = false

    /// Routes OpenSSL's allocations through the pool; false when OpenSSL already allocated.
    @discardableResult
    package static func install() -> Bool {
        prepare()
        installed = installed || CRYPTO_set_mem_functions(allocate, reallocate, release) == 1
        return installed
    }

    /// Sets up the per-thread key and the block size (idempotent; not thread-safe: call once at
    /// start, before the loops run).
    package static func prepare() {
        guard !prepared else { return }
        prepared = true
        pthread_key_create(&key) { cache in
            guard let cache else { return }
            let slots = cache.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            let count = Int(bitPattern: slots[0])
            for i in 0..<count { Glibc.free(slots[1 + i]) }
            Glibc.free(cache)
        }
        let probe = Glibc.malloc(blockSize)
        usable = malloc_usable_size(probe)
        Glibc.free(probe)
    }

    /// This thread's stack: slot 0 holds the count, slots 1... the blocks.
    private static func cache() -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
        if let existing = pthread_getspecific(key) {
            return existing.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        }
        guard let fresh = Glibc.calloc(1 + depth, MemoryLayout<UnsafeMutableRawPointer?>.stride) else { return nil }
        pthread_setspecific(key, fresh)
        return fresh.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    }

    /// OpenSSL's malloc.
    package static let allocate: @convention(c) (Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
        size, _, _ in
        guard size >= TLSRecordBuffers.smallest, size <= TLSRecordBuffers.blockSize else { return Glibc.malloc(size) }
        if let slots = TLSRecordBuffers.cache() {
            let count = Int(bitPattern: slots[0])
            if count > 0 {
                slots[0] = UnsafeMutableRawPointer(bitPattern: count - 1)
                return slots[count]
            }
        }
        return Glibc.malloc(TLSRecordBuffers.blockSize)
    }

    /// OpenSSL's free.
    package static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int32) -> Void = {
        pointer, _, _ in
        guard let pointer else { return }
        // Any block of exactly this usable size can serve any request the pool serves, so a
        // block that did not come from the pool may join it too.
        if malloc_usable_size(pointer) == TLSRecordBuffers.usable, let slots = TLSRecordBuffers.cache() {
            let count = Int(bitPattern: slots[0])
            if count < TLSRecordBuffers.depth {
                slots[1 + count] = pointer
                slots[0] = UnsafeMutableRawPointer(bitPattern: count + 1)
                return
            }
        }
        Glibc.free(pointer)
    }

    /// OpenSSL's realloc: every block is a malloc block, so glibc's realloc serves them all.
    static let reallocate:
        @convention(c) (UnsafeMutableRawPointer?, Int, UnsafePointer<CChar>?, Int32) -> UnsafeMutableRawPointer? = {
            pointer, size, _, _ in
            Glibc.realloc(pointer, size)
        }
}
