/// What the io_uring driver asks of its ring: submissions out, completions back. `URing` is the
/// kernel's; tests drive `URingLoop` with a fake that records submissions and hands back
/// completions it was told to, so the driver's bookkeeping is checked without a socket.
protocol RingKernel: AnyObject {
    /// The ring's descriptor (other rings post pokes to it).
    var ringFD: Int32 { get }
    /// Starts the ring (created disabled so that its single issuer is the loop's thread).
    func enable() throws(SystemError)
    /// Submits everything queued and waits up to `milliseconds` for a completion.
    func submitAndWait(milliseconds: Int)
    /// Submits what is queued without waiting.
    func submit()
    /// Hands each ready completion (user_data, res, flags) to `body`.
    func drain(_ body: (UInt64, Int32, UInt32) -> Void)
    /// Lends the `count` received bytes in provided buffer `id` to `body`.
    func lend(_ id: UInt16, count: Int, _ body: (inout MutableRawSpan) -> Void)
    /// Gives provided buffer `id` back to the kernel.
    func recycle(_ id: UInt16)
    /// Accepts into the fixed-file table: one connection, or every one until cancelled.
    func armAccept(listener: Int32, userData: UInt64, multishot: Bool)
    /// A multishot receive into provided buffers on a fixed file.
    func armRecv(slot: UInt32, userData: UInt64)
    /// Sends the bytes at `range` of `buffer` (held until the completion) on a fixed file.
    func send(slot: UInt32, from buffer: KernelBuffer, range: Range<Int>, userData: UInt64)
    /// Reads the peer's address of a fixed file into `buffer` at `offset`, linked ahead of the
    /// next submission.
    func peerName(slot: UInt32, into buffer: KernelBuffer, at offset: Int, length: Int, userData: UInt64)
    /// Shuts the write side of a fixed file.
    func shutdownWrite(slot: UInt32, userData: UInt64)
    /// Cancels every request on a (process) descriptor.
    func cancelAll(fd: Int32, userData: UInt64)
    /// Reads an eventfd's counter into `buffer` (8 bytes, held until the completion).
    func read(fd: Int32, into buffer: KernelBuffer, userData: UInt64)
    /// Cancels the request with user_data `target`.
    func cancel(_ target: UInt64, userData: UInt64)
    /// Closes a fixed file and frees its slot.
    func closeDirect(slot: UInt32, userData: UInt64)
    /// Posts a completion carrying `userData` into another ring.
    func message(ringFD: Int32, userData: UInt64)
    /// Connections waiting on `listener`'s accept queue.
    func listenQueueLength(_ listener: Int32) -> UInt32
}

extension URing: RingKernel {
    func listenQueueLength(_ listener: Int32) -> UInt32 { Sys.listenQueueLength(listener) }
}
