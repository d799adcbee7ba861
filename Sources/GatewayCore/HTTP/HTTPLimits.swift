/// Bounds on what one request may make the parser hold, so no peer can make it buffer without bound.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line, without its CRLF; longer is answered 414.
    public var maxRequestLineBytes: Int
    /// Header section budget, each field line counted with a two-byte line ending; over is 431.
    public var maxHeaderBytes: Int
    /// Most header fields in one request (trailers included); more is 431.
    public var maxHeaderCount: Int
    /// Largest body, decoded from chunks if chunked; larger is 413, decided before it is buffered.
    public var maxBodyBytes: Int
    /// Longest chunk-size line (size plus ignored extensions), without its CRLF; longer is 400.
    public var maxChunkLineBytes: Int

    /// Limits with the given values; the defaults suit OpAMP agents (messages up to 64 MiB).
    public init(
        maxRequestLineBytes: Int = 8 * 1024,
        maxHeaderBytes: Int = 16 * 1024,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 64 * 1024 * 1024,
        maxChunkLineBytes: Int = 1024
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}
