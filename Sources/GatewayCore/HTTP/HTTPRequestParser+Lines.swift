import Core

extension HTTPRequestParser {
    enum LineRead {
        case partial
        case complete
        case failed(HTTPParseError)
    }

    /// Moves bytes of the current line into `buffer` until its CRLF.
    ///
    /// Every check is decided by the first offending byte, before any later byte is looked at,
    /// so the outcome never depends on how the input was chunked.
    mutating func readLine(_ bytes: RawSpan, _ index: inout Int) -> LineRead {
        if sawCR {
            sawCR = false
            guard bytes.byte(index) == HTTPSyntax.lf else { return .failed(.bareCR) }
            index += 1
            return .complete
        }
        let isRequestLine: Bool
        let limit: Int
        let overflow: HTTPParseError
        switch state {
        case .requestLine:
            (isRequestLine, limit, overflow) = (true, limits.maxRequestLineBytes, .requestLineTooLong)
        case .chunkSize:
            (isRequestLine, limit, overflow) = (false, limits.maxChunkLineBytes, .chunkLineTooLong)
        default:
            (isRequestLine, limit, overflow) = (false, limits.maxHeaderBytes - fieldBytes - 2, .headersTooLarge)
        }
        var end = index
        let count = bytes.byteCount
        while end < count {
            // In bounds: `end < count`; the scan is every byte of every request, so unchecked.
            let byte = bytes.unsafeLoad(fromUncheckedByteOffset: end, as: UInt8.self)
            if byte == HTTPSyntax.cr || byte == HTTPSyntax.lf { break }
            if isRequestLine ? !HTTPSyntax.isRequestLineByte(byte) : !HTTPSyntax.isFieldByte(byte) { break }
            end += 1
        }
        if end > index {
            guard buffer.count - lineStart + (end - index) <= limit else { return .failed(overflow) }
            bytes.extracting(index..<end).append(to: &buffer)
            index = end
        }
        guard index < count else { return .partial }
        let stop = bytes.byte(index)
        index += 1
        if stop == HTTPSyntax.lf { return .failed(.bareLF) }
        if stop != HTTPSyntax.cr { return .failed(.invalidCharacter) }
        guard index < count else {
            sawCR = true
            return .partial
        }
        guard bytes.byte(index) == HTTPSyntax.lf else { return .failed(.bareCR) }
        index += 1
        return .complete
    }

    /// Acts on the line now complete in `buffer[lineStart...]`.
    mutating func completeLine() -> HTTPParseEvent? {
        let line = lineStart..<buffer.count
        switch state {
        case .requestLine:
            guard !line.isEmpty else {
                state = .idle
                return nil
            }
            if let error = parseRequestLine(line) { return fail(error) }
            lineStart = buffer.count
            state = .headers
        case .headers:
            guard !line.isEmpty else { return completeHead() }
            switch parseField(line) {
            case .success(let field): fields.append(field)
            case .failure(let error): return fail(error)
            }
            lineStart = buffer.count
        case .chunkSize:
            return completeChunkSize(line)
        case .trailers:
            guard !line.isEmpty else { return completeRequest() }
            if case .failure(let error) = parseField(line) { return fail(error) }
            // Trailers are checked and counted but dropped: nothing in OpAMP reads them.
            buffer.removeAll(keepingCapacity: true)
            lineStart = 0
        default:
            break
        }
        return nil
    }

    /// `method SP request-target SP HTTP-version`, single spaces only.
    private mutating func parseRequestLine(_ line: Range<Int>) -> HTTPParseError? {
        let bytes = buffer[line]
        guard let firstSpace = bytes.firstIndex(of: HTTPSyntax.space) else { return .invalidRequestLine }
        let methodBytes = bytes[..<firstSpace]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPSyntax.isToken) else { return .invalidMethod }
        let rest = bytes[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: HTTPSyntax.space) else { return .invalidRequestLine }
        let targetBytes = rest[..<secondSpace]
        guard !targetBytes.isEmpty else { return .invalidTarget }
        let versionBytes = rest[(secondSpace + 1)...]
        guard versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8),
            versionBytes[versionBytes.startIndex + 6] == UInt8(ascii: "."),
            let major = digit(versionBytes[versionBytes.startIndex + 5]),
            let minor = digit(versionBytes[versionBytes.startIndex + 7])
        else { return .invalidVersion }
        switch (major, minor) {
        case (1, 0): version = .http10
        case (1, 1): version = .http11
        default: return .unsupportedVersion
        }
        method = String(decoding: methodBytes, as: UTF8.self)
        target = String(decoding: targetBytes, as: UTF8.self)
        return nil
    }

    private func digit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    /// `field-name ":" OWS field-value OWS`; counts the field against the limits.
    private mutating func parseField(_ line: Range<Int>) -> Result<HTTPHeaders.Field, HTTPParseError> {
        guard fieldCount < limits.maxHeaderCount else { return .failure(.tooManyHeaders) }
        let first = buffer[line.lowerBound]
        if HTTPSyntax.isWhitespace(first) { return .failure(.obsoleteLineFolding) }
        var colon = line.lowerBound
        while colon < line.upperBound, HTTPSyntax.isToken(buffer[colon]) { colon += 1 }
        guard colon < line.upperBound else { return .failure(.missingColon) }
        let stop = buffer[colon]
        if stop != HTTPSyntax.colon {
            let hasColonLater = buffer[colon..<line.upperBound].contains(HTTPSyntax.colon)
            if HTTPSyntax.isWhitespace(stop) && hasColonLater { return .failure(.whitespaceBeforeColon) }
            return .failure(hasColonLater ? .invalidHeaderName : .missingColon)
        }
        guard colon > line.lowerBound else { return .failure(.invalidHeaderName) }
        let value = HTTPSyntax.trimmed(buffer[(colon + 1)..<line.upperBound])
        fieldCount += 1
        fieldBytes += line.count + 2
        return .success(HTTPHeaders.Field(name: line.lowerBound..<colon, value: value.startIndex..<value.endIndex))
    }

    /// Turns the finished head into a request or a body to read, deciding size limits up front.
    private mutating func completeHead() -> HTTPParseEvent? {
        let headers = HTTPHeaders(storage: buffer, fields: fields)
        buffer = []
        fields = []
        lineStart = 0
        let head: HTTPRequestHead
        do {
            head = try HTTPRequestHead(method: method, target: target, version: version, headers: headers)
        } catch {
            return fail(error)
        }
        let length = head.contentLength ?? 0
        if length > limits.maxBodyBytes { return fail(.bodyTooLarge) }
        pendingHead = head
        if head.isChunked {
            state = .chunkSize
        } else if length > 0 {
            // Grow with what arrives: a claimed length alone must not reserve memory.
            body.reserveCapacity(min(length, 64 * 1024))
            state = .body(remaining: length)
        } else {
            return completeRequest()
        }
        return head.expectsContinue ? .continueExpected(head) : nil
    }

    /// `chunk-size [ chunk-ext ]`: hex digits, optional whitespace, then `;` and ignored extensions.
    private mutating func completeChunkSize(_ line: Range<Int>) -> HTTPParseEvent? {
        var index = line.lowerBound
        var size = 0
        while index < line.upperBound, let value = HTTPSyntax.hexValue(buffer[index]) {
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            guard !overflow else { return fail(.invalidChunkSize) }
            size = shifted + value
            index += 1
        }
        guard index > line.lowerBound else { return fail(.invalidChunkSize) }
        while index < line.upperBound, HTTPSyntax.isWhitespace(buffer[index]) { index += 1 }
        guard index == line.upperBound || buffer[index] == HTTPSyntax.semicolon else {
            return fail(.invalidChunkSize)
        }
        buffer.removeAll(keepingCapacity: true)
        lineStart = 0
        if size == 0 {
            state = .trailers
        } else {
            guard size <= limits.maxBodyBytes - body.count else { return fail(.bodyTooLarge) }
            state = .chunkData(remaining: size)
        }
        return nil
    }
}
