import Testing

@testable import Gateway
@testable import GatewayCore

/// What parsing a byte stream came to; equal outcomes mean the chunking did not matter.
struct HTTPParseOutcome: Equatable {
    var events: [HTTPParseEvent] = []
    var phase = HTTPParserPhase.idle
    var bufferedBytes = 0
    var retainedCapacity = 0

    var requests: [HTTPRequest] {
        events.compactMap {
            if case .request(let request) = $0 { return request }
            return nil
        }
    }

    var error: HTTPParseError? {
        if case .error(let error) = events.last { return error }
        return nil
    }

    /// Capacity is left out: how an array grew depends on the chunking, and only zero is promised.
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.events == rhs.events && lhs.phase == rhs.phase && lhs.bufferedBytes == rhs.bufferedBytes
    }
}

extension HTTPRequestParser {
    /// Feeds a copy of `bytes` (the parser takes a span, as the engines lend their buffers).
    mutating func feed(_ bytes: some Collection<UInt8>) -> HTTPParseStep {
        let copy = Array(bytes)
        return feed(copy.span.bytes)
    }
}

/// Feeds `bytes` in pieces whose sizes `nextSize` picks, re-feeding the rest of a piece after each
/// event as an engine would, and stopping at the first error.
func runParser(
    _ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), nextSize: (Int) -> Int
) -> HTTPParseOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = HTTPParseOutcome()
    var offset = 0
    feeding: while offset < bytes.count {
        let end = offset + max(1, min(nextSize(bytes.count - offset), bytes.count - offset))
        var position = offset
        while position < end {
            let step = parser.feed(bytes[position..<end])
            position += step.consumed
            guard let event = step.event else { break }
            outcome.events.append(event)
            if case .error = event { break feeding }
        }
        offset = end
    }
    outcome.phase = parser.phase
    outcome.bufferedBytes = parser.bufferedBytes
    outcome.retainedCapacity = parser.retainedCapacity
    return outcome
}

/// Parses `bytes` whole and one byte at a time, expecting the same outcome, and returns it.
func parseHTTP(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> HTTPParseOutcome {
    let whole = runParser(bytes, limits: limits) { $0 }
    let single = runParser(bytes, limits: limits) { _ in 1 }
    #expect(whole == single, "feeding byte by byte changed the outcome")
    return whole
}

/// `parseHTTP` on a string's UTF-8.
func parseHTTP(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseOutcome {
    parseHTTP(Array(text.utf8), limits: limits)
}

@Suite struct HTTPRequestParserTests {
    @Test func webSocketUpgradeRequest() throws {
        let text =
            "GET /v1/opamp HTTP/1.1\r\nHost: localhost:4320\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        let outcome = parseHTTP(text)
        let request = try #require(outcome.requests.first)
        #expect(outcome.events.count == 1)
        #expect(request.method == "GET")
        #expect(request.target == "/v1/opamp")
        #expect(request.path == "/v1/opamp")
        #expect(request.version == .http11)
        #expect(request.isWebSocketUpgrade)
        #expect(request.keepAlive)
        #expect(request.secWebSocketKey == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(request.secWebSocketVersion == "13")
        #expect(request.secWebSocketExtensions == "permessage-deflate")
        #expect(request.body.isEmpty)
        #expect(request.contentLength == nil)
        #expect(!request.isChunked)
        #expect(outcome.phase == .idle)
        #expect(outcome.retainedCapacity == 0)
    }

    @Test func framesAfterAnUpgradeAreLeftToTheCaller() {
        let head = Array("GET /v1/opamp HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8)
        let frame: [UInt8] = [0x82, 0x80, 1, 2, 3, 4]
        var parser = HTTPRequestParser()
        let step = parser.feed((head + frame))
        #expect(step.consumed == head.count)
        guard case .request(let request) = step.event else {
            Issue.record("expected a request")
            return
        }
        #expect(request.isWebSocketUpgrade)
        #expect(parser.isIdle)
    }

    @Test func plainHTTPPost() throws {
        let body = "\u{0A}\u{10}0123456789abcdef"
        let text =
            "POST /v1/opamp HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-protobuf\r\n"
            + "Content-Length: \(body.utf8.count)\r\nOpAMP-Instance-UID: 0190a8c3-7b2e-7c4d-8e5f-123456789abc\r\n"
            + "Accept-Encoding: gzip, deflate\r\nContent-Encoding: gzip\r\n\r\n" + body
        let request = try #require(parseHTTP(text).requests.first)
        #expect(request.method == "POST")
        #expect(request.body == Array(body.utf8))
        #expect(request.contentLength == body.utf8.count)
        #expect(request.contentType == "application/x-protobuf")
        #expect(request.mediaType == "application/x-protobuf")
        #expect(request.contentEncoding == "gzip")
        #expect(request.opampInstanceUID == "0190a8c3-7b2e-7c4d-8e5f-123456789abc")
        #expect(request.acceptsGzip)
        #expect(!request.isWebSocketUpgrade)
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let text =
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        let outcome = parseHTTP(text)
        #expect(outcome.requests.map(\.target) == ["/a", "/b?x=1", "/c"])
        #expect(outcome.requests.map(\.body) == [Array("abc".utf8), [], Array("hi".utf8)])
        #expect(outcome.requests[1].path == "/b")
        #expect(outcome.phase == .idle)
        #expect(outcome.retainedCapacity == 0)
    }

    @Test func eachFeedStopsAtTheNextRequestBoundary() {
        let first = Array("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        let second = Array("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        let all = first + second
        var parser = HTTPRequestParser()
        let step1 = parser.feed(all)
        #expect(step1.consumed == first.count)
        let step2 = parser.feed(all[first.count...])
        #expect(step2.consumed == second.count)
        guard case .request(let request) = step2.event else {
            Issue.record("expected the second request")
            return
        }
        #expect(request.target == "/2")
        let step3 = parser.feed([UInt8]())
        #expect(step3 == HTTPParseStep(consumed: 0, event: nil))
    }

    @Test func aRequestSplitAcrossManyFeedsArrivesOnce() {
        let text = "POST /v1/opamp HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
        for size in [1, 2, 3, 5, 7, 16, 64] {
            let outcome = runParser(Array(text.utf8)) { _ in size }
            #expect(outcome.requests.count == 1, "chunk size \(size)")
            #expect(outcome.requests.first?.body == Array("0123456789".utf8))
        }
    }

    @Test func emptyLinesBeforeARequestAreSkipped() {
        let outcome = parseHTTP("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n")
        #expect(outcome.requests.count == 1)
        #expect(outcome.phase == .idle)
    }

    @Test(arguments: [
        ("/v1/opamp", "/v1/opamp"), ("/v1/opamp?x=1", "/v1/opamp"), ("http://h:4320/v1/opamp?a", "/v1/opamp"),
        ("https://h", ""), ("*", "*"), ("/a://b", "/a://b"),
    ])
    func pathDropsQueryAndAbsoluteFormPrefix(target: String, path: String) {
        let outcome = parseHTTP("OPTIONS \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.requests.first?.path == path[...])
    }

    @Test func unknownMethodsParse() {
        let outcome = parseHTTP("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.requests.first?.method == "BREW")
    }

    @Test func headerLookupIsCaseInsensitiveAndOrdered() throws {
        let text = "GET / HTTP/1.1\r\nHost: h\r\nX-Thing:  one \t\r\nx-thing:two\r\nEmpty:\r\nX-THING: three\r\n\r\n"
        let headers = try #require(parseHTTP(text).requests.first).headers
        #expect(headers.count == 5)
        #expect(headers["x-THING"] == "one")
        #expect(headers.values("X-Thing") == ["one", "two", "three"])
        #expect(headers.combinedValue("x-thing") == "one, two, three")
        #expect(headers["Empty"] == "")
        #expect(headers["Missing"] == nil)
        #expect(headers.contains("host"))
        #expect(headers[1].name == "X-Thing")
        #expect(headers[1].value == "one")
        #expect(headers[2].name == "x-thing")
        #expect(
            headers
                == HTTPHeaders([
                    ("Host", "h"), ("X-Thing", "one"), ("x-thing", "two"), ("Empty", ""), ("X-THING", "three"),
                ]))
    }

    @Test func obsTextIsAllowedInValues() throws {
        let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)
        let request = try #require(parseHTTP(bytes).requests.first)
        #expect(request.headers["X-Name"] == "café")
    }

    @Test func hostIsRequiredOnlyInHTTP11() {
        #expect(parseHTTP("GET / HTTP/1.1\r\n\r\n").error == .invalidHost)
        #expect(parseHTTP("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").error == .invalidHost)
        #expect(parseHTTP("GET / HTTP/1.0\r\n\r\n").requests.first?.version == .http10)
    }

    @Test func expectContinueIsAnnouncedBeforeTheBody() throws {
        let head = "POST /v1/opamp HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        var parser = HTTPRequestParser()
        let step = parser.feed(Array(head.utf8))
        guard case .continueExpected(let announced) = step.event else {
            Issue.record("expected continueExpected, got \(String(describing: step.event))")
            return
        }
        #expect(announced.expectsContinue)
        #expect(announced.contentLength == 2)
        #expect(parser.phase == .body)
        let outcome = parseHTTP(head + "ok")
        #expect(outcome.events.count == 2)
        #expect(outcome.requests.first?.body == Array("ok".utf8))
        #expect(outcome.requests.first?.head == announced)
    }

    @Test func expectContinueWithoutABodyOrInHTTP10IsNotAnnounced() {
        let empty = parseHTTP("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        #expect(empty.events.count == 1)
        #expect(empty.requests.count == 1)
        let old = parseHTTP("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
        #expect(old.events.count == 1)
        #expect(old.requests.first?.expectsContinue == false)
    }

    @Test func phasesFollowTheRequest() {
        var parser = HTTPRequestParser()
        #expect(parser.phase == .idle)
        #expect(parser.isIdle)
        func feed(_ text: String) -> HTTPParseStep { parser.feed(Array(text.utf8)) }
        _ = feed("\r")
        #expect(parser.phase == .head)
        _ = feed("\nPOST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n")
        #expect(parser.phase == .head)
        #expect(parser.bufferedBytes > 0)
        _ = feed("\r\nab")
        #expect(parser.phase == .body)
        #expect(parser.bufferedBytes >= 2)
        let step = feed("cd")
        #expect(step.event != nil)
        #expect(parser.phase == .idle)
        #expect(parser.bufferedBytes == 0)
        #expect(parser.retainedCapacity == 0)
    }

    @Test func anIdleParserHoldsNoBuffer() {
        var parser = HTTPRequestParser()
        let big =
            "POST / HTTP/1.1\r\nHost: h\r\nX-Pad: \(String(repeating: "p", count: 4000))\r\nContent-Length: 5000\r\n\r\n"
        let bytes = Array(big.utf8) + [UInt8](repeating: 7, count: 5000)
        let step = parser.feed(bytes)
        #expect(step.consumed == bytes.count)
        if case .request(let request) = step.event {
            #expect(request.body.count == 5000)
        } else {
            Issue.record("expected a request")
        }
        #expect(parser.isIdle)
        #expect(parser.bufferedBytes == 0)
        #expect(parser.retainedCapacity == 0)
    }

    @Test func aFailedParserRefusesFurtherInputAndHoldsNothing() {
        var parser = HTTPRequestParser()
        let bad = Array("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n".utf8)
        let step = parser.feed(bad)
        #expect(step.event == .error(.whitespaceBeforeColon))
        #expect(parser.phase == .failed)
        #expect(parser.retainedCapacity == 0)
        let again = parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(again == HTTPParseStep(consumed: 0, event: .error(.whitespaceBeforeColon)))
        let empty = parser.feed([UInt8]())
        #expect(empty.event == .error(.whitespaceBeforeColon))
    }
}
