/// Why a request was refused; after one the parser takes no more input and the connection must close.
public enum HTTPParseError: Error, Sendable, Hashable {
    /// A byte not allowed where it stands (a control character, or non-ASCII in the request line).
    case invalidCharacter
    /// A CR not followed by LF.
    case bareCR
    /// A LF not preceded by CR; accepted by some servers, refused here because lenient line endings
    /// are a request-smuggling vector.
    case bareLF
    /// A request line that is not `method SP target SP version`.
    case invalidRequestLine
    /// A method that is not a token.
    case invalidMethod
    /// An empty request target.
    case invalidTarget
    /// A version that is not `HTTP/d.d`.
    case invalidVersion
    /// A well-formed `HTTP/x.y` other than 1.0 and 1.1.
    case unsupportedVersion
    /// A request line longer than `HTTPLimits.maxRequestLineBytes`.
    case requestLineTooLong
    /// A header section larger than `HTTPLimits.maxHeaderBytes`.
    case headersTooLarge
    /// More fields than `HTTPLimits.maxHeaderCount`.
    case tooManyHeaders
    /// A field line starting with whitespace: obsolete line folding (RFC 9112 §5.2).
    case obsoleteLineFolding
    /// A field name that is empty or not a token.
    case invalidHeaderName
    /// Whitespace between a field name and its colon (RFC 9112 §5.1).
    case whitespaceBeforeColon
    /// A field line without a colon.
    case missingColon
    /// No `Host` in an HTTP/1.1 request, or more than one.
    case invalidHost
    /// A `Content-Length` that is not a decimal number that fits in an `Int`.
    case invalidContentLength
    /// Several `Content-Length` values that differ.
    case conflictingContentLength
    /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling ambiguity.
    case contentLengthWithTransferEncoding
    /// `Transfer-Encoding` in an HTTP/1.0 request, whose framing RFC 9112 §6.1 says to distrust.
    case transferEncodingInHTTP10
    /// `Transfer-Encoding` that is empty or applies `chunked` more than once.
    case invalidTransferEncoding
    /// A transfer coding other than `chunked`.
    case unsupportedTransferEncoding
    /// A body larger than `HTTPLimits.maxBodyBytes`.
    case bodyTooLarge
    /// A chunk-size line that is not hex digits optionally followed by extensions.
    case invalidChunkSize
    /// A chunk-size line longer than `HTTPLimits.maxChunkLineBytes`.
    case chunkLineTooLong
    /// Chunk data not followed by CRLF.
    case invalidChunkTerminator

    /// The status to answer before closing.
    public var status: HTTPStatus {
        switch self {
        case .requestLineTooLong: .uriTooLong
        case .headersTooLarge, .tooManyHeaders: .requestHeaderFieldsTooLarge
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferEncoding: .notImplemented
        case .bodyTooLarge: .contentTooLarge
        default: .badRequest
        }
    }

    /// A short reason for the response body and logs.
    public var reason: String {
        switch self {
        case .invalidCharacter: "invalid character"
        case .bareCR: "CR without LF"
        case .bareLF: "LF without CR"
        case .invalidRequestLine: "malformed request line"
        case .invalidMethod: "invalid method"
        case .invalidTarget: "invalid request target"
        case .invalidVersion: "malformed HTTP version"
        case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are supported"
        case .requestLineTooLong: "request line too long"
        case .headersTooLarge: "header section too large"
        case .tooManyHeaders: "too many header fields"
        case .obsoleteLineFolding: "obsolete line folding"
        case .invalidHeaderName: "invalid header field name"
        case .whitespaceBeforeColon: "whitespace before colon in header field"
        case .missingColon: "header field without colon"
        case .invalidHost: "HTTP/1.1 needs exactly one valid Host"
        case .invalidContentLength: "invalid Content-Length"
        case .conflictingContentLength: "conflicting Content-Length values"
        case .contentLengthWithTransferEncoding: "both Content-Length and Transfer-Encoding"
        case .transferEncodingInHTTP10: "Transfer-Encoding in an HTTP/1.0 request"
        case .invalidTransferEncoding: "invalid Transfer-Encoding"
        case .unsupportedTransferEncoding: "only the chunked transfer coding is supported"
        case .bodyTooLarge: "body too large"
        case .invalidChunkSize: "invalid chunk size"
        case .chunkLineTooLong: "chunk-size line too long"
        case .invalidChunkTerminator: "chunk data not followed by CRLF"
        }
    }

    /// Appends the complete error response (status, plain-text reason, `Connection: close`).
    public func writeResponse(into buffer: inout [UInt8]) {
        let text = reason
        let response = HTTPResponse(
            status: status,
            headers: [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")],
            contentLength: text.utf8.count + 1
        )
        response.writeHead(into: &buffer)
        buffer.append(contentsOf: text.utf8)
        buffer.append(HTTPSyntax.lf)
    }
}
