/// A response head to serialize; the body, if any, is written by the caller after it.
public struct HTTPResponse: Sendable {
    /// The status line's code and phrase.
    public var status: HTTPStatus
    /// Fields in the order written; names and values must not contain CR or LF.
    public var headers: [(name: String, value: String)]
    /// Written as `Content-Length` when set; nil for 101, or for a body framed otherwise.
    public var contentLength: Int?
    /// The version in the status line; HTTP/1.0 clients get an HTTP/1.0 answer.
    public var version: HTTPVersion

    /// A response head; headers and `Content-Length` default to none.
    public init(
        status: HTTPStatus,
        headers: [(name: String, value: String)] = [],
        contentLength: Int? = nil,
        version: HTTPVersion = .http11
    ) {
        self.status = status
        self.headers = headers
        self.contentLength = contentLength
        self.version = version
    }

    /// Appends the status line, the fields and the blank line that ends the head.
    public func writeHead(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: version == .http11 ? "HTTP/1.1 ".utf8 : "HTTP/1.0 ".utf8)
        HTTPSyntax.appendDecimal(status.code, to: &buffer)
        buffer.append(HTTPSyntax.space)
        buffer.append(contentsOf: status.reasonPhrase.utf8)
        buffer.append(contentsOf: HTTPSyntax.crlf)
        for (name, value) in headers {
            // A CR or LF here would let a value forge extra fields or a second response.
            precondition(!name.utf8.contains(where: HTTPSyntax.isLineBreak), "CR/LF in a response field name")
            precondition(!value.utf8.contains(where: HTTPSyntax.isLineBreak), "CR/LF in a response field value")
            buffer.append(contentsOf: name.utf8)
            buffer.append(contentsOf: ": ".utf8)
            buffer.append(contentsOf: value.utf8)
            buffer.append(contentsOf: HTTPSyntax.crlf)
        }
        if let contentLength {
            buffer.append(contentsOf: "Content-Length: ".utf8)
            HTTPSyntax.appendDecimal(contentLength, to: &buffer)
            buffer.append(contentsOf: HTTPSyntax.crlf)
        }
        buffer.append(contentsOf: HTTPSyntax.crlf)
    }
}
