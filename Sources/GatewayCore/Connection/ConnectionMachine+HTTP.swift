import Core

/// The HTTP phase: requests, routing, the WebSocket upgrade and plain-HTTP OpAMP (H1–H6 in
/// docs/PROTOCOL.md).
extension ConnectionMachine {
    mutating func receiveHTTP(
        _ parser: inout HTTPRequestParser, _ input: RawSpan, _ offset: inout Int,
        _ ctx: LoopContext, _ out: inout [UInt8]
    ) -> Verdict {
        if phaseSince == 0 { phaseSince = max(1, ctx.now) }
        while offset < input.byteCount {
            let wasInBody = parser.phase == .body
            let step = parser.feed(input.extracting(offset...))
            offset += step.consumed
            if !wasInBody && parser.phase == .body { phaseSince = max(1, ctx.now) }
            guard let event = step.event else { return .open }
            switch event {
            case .continueExpected:
                out.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
            case .error(let error):
                ctx.counters.httpErrors += 1
                Self.respond(error.status, text: error.reason, close: true, &out)
                return .closeAfterFlush
            case .request(let request):
                // The next request's deadline starts with its first byte.
                phaseSince = offset < input.byteCount ? max(1, ctx.now) : 0
                let verdict = route(request, ctx, &out)
                if case .websocket = phase {
                    // Bytes after the upgrade request are WebSocket frames.
                    isFreshUpgrade = offset < input.byteCount
                    return verdict
                }
                if verdict != .open { return verdict }
            }
        }
        return .open
    }

    mutating func route(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8]) -> Verdict {
        let isHead = request.method == "HEAD"
        guard request.path == "/v1/opamp" else {
            ctx.counters.httpErrors += 1
            Self.respond(
                .notFound, text: "OpAMP is served at /v1/opamp", close: !request.keepAlive, &out, omitBody: isHead)
            return request.keepAlive ? .open : .closeAfterFlush
        }
        // Enrollment comes before anything else an agent can cost the server.
        if ctx.configuration.requireEnrollment {
            guard let token = request.bearerToken, case let hash = EnrollmentToken.hash(token),
                ctx.directory.enrollmentIsValid(tokenHash: hash)
            else {
                ctx.counters.enrollmentRefused += 1
                Self.respond(
                    .unauthorized, text: "a valid enrollment token is required (Authorization: Bearer TOKEN)",
                    close: true, &out, extra: [("WWW-Authenticate", "Bearer")])
                return .closeAfterFlush
            }
            enrollmentToken = hash
        }
        if ctx.isOverloaded {
            ctx.counters.overloadRejections += 1
            Self.respond(
                .serviceUnavailable, text: "server overloaded", close: true, &out,
                extra: [("Retry-After", String(ctx.configuration.retryAfterSeconds))])
            return .closeAfterFlush
        }
        if request.isWebSocketUpgrade || request.method == "GET" {
            return upgrade(request, ctx, &out)
        }
        guard request.method == "POST" else {
            ctx.counters.httpErrors += 1
            // RFC 9110 §9.3.2: the answer to HEAD has the headers of the answer to GET, no body.
            Self.respond(
                .methodNotAllowed, text: "use POST or a WebSocket upgrade", close: !request.keepAlive, &out,
                extra: [("Allow", "GET, POST")], omitBody: isHead)
            return request.keepAlive ? .open : .closeAfterFlush
        }
        return plainHTTP(request, ctx, &out)
    }

    mutating func upgrade(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8]) -> Verdict {
        let handshake = WebSocketHandshakeRequest(
            method: request.method, httpVersion: request.version == .http11 ? "HTTP/1.1" : "HTTP/1.0",
            // Repeated lines joined (RFC 9110 §5.3): two Sec-WebSocket-Key lines then fail the key check.
            header: { request.headers.combinedValue($0) })
        switch WebSocketHandshake.respond(to: handshake, allowDeflate: ctx.configuration.allowWebSocketDeflate) {
        case .failure(let rejection):
            ctx.counters.httpErrors += 1
            out.append(contentsOf: rejection.response)
            return .closeAfterFlush
        case .success(let acceptance):
            out.append(contentsOf: acceptance.response)
            deflate = acceptance.deflate != nil
            let parser = WebSocketFrameParser(
                configuration: .init(maxMessageSize: ctx.configuration.maxMessageSize, permessageDeflate: deflate))
            phase = .websocket(parser, AgentSession(serverCapabilities: ctx.configuration.serverCapabilities))
            leaveHandshakes(ctx)
            phaseSince = ctx.now
            return .open
        }
    }

    /// H1–H6: one AgentToServer per POST, one ServerToAgent per response.
    mutating func plainHTTP(_ request: HTTPRequest, _ ctx: LoopContext, _ out: inout [UInt8])
        -> Verdict
    {
        let close = !request.keepAlive
        guard request.mediaType == "application/x-protobuf" else {
            ctx.counters.httpErrors += 1
            Self.respond(.unsupportedMediaType, text: "Content-Type must be application/x-protobuf", close: close, &out)
            return close ? .closeAfterFlush : .open
        }
        var body = request.body
        if let encoding = request.contentEncoding?.lowercased(), encoding != "identity" {
            guard encoding == "gzip" else {
                ctx.counters.httpErrors += 1
                Self.respond(
                    .unsupportedMediaType, text: "Content-Encoding must be gzip or identity", close: close, &out)
                return close ? .closeAfterFlush : .open
            }
            switch Gzip.inflate(body, limit: ctx.configuration.maxMessageSize) {
            case .success(let inflated): body = inflated
            case .failure(.tooLarge):
                ctx.counters.httpErrors += 1
                Self.respond(.contentTooLarge, text: "message larger than the server's limit", close: true, &out)
                return .closeAfterFlush
            case .failure(.corrupt):
                ctx.counters.httpErrors += 1
                Self.respond(.badRequest, text: "corrupt gzip body", close: close, &out)
                return close ? .closeAfterFlush : .open
            }
        }
        ctx.counters.messagesIn += 1
        leaveHandshakes(ctx)
        let reply = OpAMPExchange.httpReply(body.span.bytes, headerUID: request.opampInstanceUID, &self, ctx)
        var headers: [(String, String)] = [("Content-Type", "application/x-protobuf")]
        var payload = reply
        if request.acceptsGzip && reply.count > 256 {
            payload = Gzip.deflate(reply)
            headers.append(("Content-Encoding", "gzip"))
        }
        if close { headers.append(("Connection", "close")) }
        HTTPResponse(status: .ok, headers: headers, contentLength: payload.count, version: request.version)
            .writeHead(into: &out)
        out.append(contentsOf: payload)
        return close ? .closeAfterFlush : .open
    }

    static func respond(
        _ status: HTTPStatus, text: String, close: Bool, _ out: inout [UInt8], extra: [(String, String)] = [],
        omitBody: Bool = false
    ) {
        var headers: [(String, String)] = [("Content-Type", "text/plain; charset=utf-8")] + extra
        if close { headers.append(("Connection", "close")) }
        let body = Array((text + "\n").utf8)
        HTTPResponse(status: status, headers: headers, contentLength: body.count).writeHead(into: &out)
        if !omitBody { out.append(contentsOf: body) }
    }
}
