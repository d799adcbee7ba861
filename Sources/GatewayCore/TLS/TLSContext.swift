import Synchronization

/// The agent listener's TLS setup, shared by every loop. `reload` swaps in a context built from
/// the files again (certificate rotation on SIGHUP); connections already open keep theirs.
public final class TLSContext: Sendable {
    private let current: Mutex<SSLContextBox>
    /// Where the certificate and trust come from.
    public let settings: TLSSettings

    /// Loads the certificate, key and client CAs; throws if any is unusable.
    public init(_ settings: TLSSettings) throws(TLSError) {
        self.settings = settings
        current = Mutex(try Self.make(settings))
    }

    /// Builds a new context from the same files; the old one stays in use if this throws.
    public func reload() throws(TLSError) {
        let fresh = try Self.make(settings)
        current.withLock { $0 = fresh }
    }

    /// The context new connections start from.
    var box: SSLContextBox { current.withLock { $0 } }
}
