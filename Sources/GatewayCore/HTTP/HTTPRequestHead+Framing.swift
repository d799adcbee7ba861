extension HTTPRequestHead {
    /// Reads the fields that decide framing and connection handling, in one pass, refusing every
    /// ambiguity an intermediary could read differently (RFC 9112 §6.3, §11.2).
    init(method: String, target: String, version: HTTPVersion, headers: HTTPHeaders) throws(HTTPParseError) {
        var contentLength: Int?
        var hasTransferEncoding = false
        var chunkedCount = 0
        var otherCoding = false
        var hosts = 0
        var close = false
        var keepAliveToken = false
        var upgradeToken = false
        var websocket = false
        var continueExpected = false
        var failure: HTTPParseError?

        for field in headers.fields {
            let name = headers.name(of: field)
            let value = headers.storage[field.value]
            if HTTPSyntax.equalsIgnoringCase(name, "Content-Length") {
                var elements = 0
                HTTPSyntax.forEachElement(of: value) { element in
                    elements += 1
                    guard let length = HTTPSyntax.decimal(element) else {
                        failure = failure ?? .invalidContentLength
                        return false
                    }
                    if let previous = contentLength, previous != length {
                        failure = failure ?? .conflictingContentLength
                        return false
                    }
                    contentLength = length
                    return true
                }
                if elements == 0 { failure = failure ?? .invalidContentLength }
            } else if HTTPSyntax.equalsIgnoringCase(name, "Transfer-Encoding") {
                hasTransferEncoding = true
                HTTPSyntax.forEachElement(of: value) { element in
                    if HTTPSyntax.equalsIgnoringCase(element, "chunked") {
                        chunkedCount += 1
                    } else {
                        otherCoding = true
                    }
                    return true
                }
            } else if HTTPSyntax.equalsIgnoringCase(name, "Connection") {
                HTTPSyntax.forEachElement(of: value) { token in
                    if HTTPSyntax.equalsIgnoringCase(token, "close") { close = true }
                    if HTTPSyntax.equalsIgnoringCase(token, "keep-alive") { keepAliveToken = true }
                    if HTTPSyntax.equalsIgnoringCase(token, "upgrade") { upgradeToken = true }
                    return true
                }
            } else if HTTPSyntax.equalsIgnoringCase(name, "Upgrade") {
                HTTPSyntax.forEachElement(of: value) { protocolName in
                    // `websocket` may carry a version suffix (`websocket/13`); the name is what counts.
                    let bare = protocolName.prefix { $0 != UInt8(ascii: "/") }
                    if HTTPSyntax.equalsIgnoringCase(bare, "websocket") { websocket = true }
                    return true
                }
            } else if HTTPSyntax.equalsIgnoringCase(name, "Expect") {
                HTTPSyntax.forEachElement(of: value) { expectation in
                    if HTTPSyntax.equalsIgnoringCase(expectation, "100-continue") { continueExpected = true }
                    return true
                }
            } else if HTTPSyntax.equalsIgnoringCase(name, "Host") {
                hosts += 1
                if !HTTPSyntax.isValidHost(value) { failure = failure ?? .invalidHost }
            }
        }

        if let failure { throw failure }
        if hosts > 1 || (version == .http11 && hosts == 0) { throw .invalidHost }
        if hasTransferEncoding {
            if contentLength != nil { throw .contentLengthWithTransferEncoding }
            if version == .http10 { throw .transferEncodingInHTTP10 }
            if otherCoding { throw .unsupportedTransferEncoding }
            if chunkedCount != 1 { throw .invalidTransferEncoding }
        }

        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keepAlive = !close && (version == .http11 || keepAliveToken)
        self.contentLength = contentLength
        self.isChunked = hasTransferEncoding
        self.expectsContinue = version == .http11 && continueExpected
        self.isWebSocketUpgrade = version == .http11 && websocket && upgradeToken
    }
}
