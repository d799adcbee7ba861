import Testing

@testable import Gateway
@testable import GatewayCore

@Suite struct HTTPParserLimitTests {
    @Test func defaults() {
        let limits = HTTPLimits()
        #expect(limits.maxRequestLineBytes == 8192)
        #expect(limits.maxHeaderBytes == 16384)
        #expect(limits.maxHeaderCount == 100)
        #expect(limits.maxBodyBytes == 64 << 20)
    }

    /// A request line of exactly `length` bytes (without CRLF).
    func requestLine(length: Int) -> String {
        let fixed = "GET / HTTP/1.1".utf8.count
        return "GET /" + String(repeating: "a", count: length - fixed) + " HTTP/1.1"
    }

    @Test func requestLineAtTheLimitPassesAndOneMoreIs414() {
        for limit in [64, 8192] {
            let limits = HTTPLimits(maxRequestLineBytes: limit)
            let exact = parseHTTP(requestLine(length: limit) + "\r\nHost: h\r\n\r\n", limits: limits)
            #expect(exact.requests.count == 1)
            let over = parseHTTP(requestLine(length: limit + 1) + "\r\nHost: h\r\n\r\n", limits: limits)
            #expect(over.error == .requestLineTooLong)
            #expect(over.error?.status == .uriTooLong)
        }
    }

    @Test func anEndlessRequestLineFailsWithoutWaitingForCRLF() {
        var parser = HTTPRequestParser(limits: HTTPLimits(maxRequestLineBytes: 100))
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 60)
        let first = parser.feed(chunk)
        #expect(first.event == nil)
        #expect(parser.bufferedBytes == 60)
        let second = parser.feed(chunk)
        #expect(second.event == .error(.requestLineTooLong))
        #expect(parser.retainedCapacity == 0)
    }

    /// Header lines whose bytes, each counted with its CRLF, total exactly `total`.
    func headerSection(totalBytes total: Int) -> String {
        let host = "Host: h\r\n"
        let padName = "X-Pad: "
        let padLength = total - host.utf8.count - padName.utf8.count - 2
        return host + padName + String(repeating: "p", count: padLength) + "\r\n"
    }

    @Test func headerBytesAtTheLimitPassAndOneMoreIs431() {
        for limit in [100, 16384] {
            let limits = HTTPLimits(maxHeaderBytes: limit)
            let exact = parseHTTP("GET / HTTP/1.1\r\n" + headerSection(totalBytes: limit) + "\r\n", limits: limits)
            #expect(exact.requests.count == 1)
            let over = parseHTTP("GET / HTTP/1.1\r\n" + headerSection(totalBytes: limit + 1) + "\r\n", limits: limits)
            #expect(over.error == .headersTooLarge)
            #expect(over.error?.status == .requestHeaderFieldsTooLarge)
        }
    }

    @Test func headerCountAtTheLimitPassesAndOneMoreIs431() {
        let fields = (1..<100).map { "X-\($0): v\r\n" }.joined()
        let exact = parseHTTP("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n")
        #expect(exact.requests.first?.headers.count == 100)
        let over = parseHTTP("GET / HTTP/1.1\r\nHost: h\r\nX-0: v\r\n" + fields + "\r\n")
        #expect(over.error == .tooManyHeaders)
        #expect(over.error?.status == .requestHeaderFieldsTooLarge)
    }

    @Test func contentLengthAtTheLimitPassesAndOneMoreIs413BeforeAnyBody() {
        let limits = HTTPLimits(maxBodyBytes: 16)
        let body = String(repeating: "b", count: 16)
        let exact = parseHTTP("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n" + body, limits: limits)
        #expect(exact.requests.first?.body.count == 16)
        let over = parseHTTP("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", limits: limits)
        #expect(over.error == .bodyTooLarge)
        #expect(over.error?.status == .contentTooLarge)
    }

    @Test func theDefaultBodyLimitIsDecidedFromTheHead() {
        let over = parseHTTP("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \((64 << 20) + 1)\r\n\r\n")
        #expect(over.error == .bodyTooLarge)
        var parser = HTTPRequestParser()
        let step = parser.feed(Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(64 << 20)\r\n\r\n".utf8))
        #expect(step.event == nil)
        #expect(parser.phase == .body)
        // A claimed length reserves little: memory follows the bytes that actually arrive.
        #expect(parser.retainedCapacity < 256 * 1024)
    }

    @Test func bufferingNeverExceedsTheLimits() {
        let limits = HTTPLimits(maxRequestLineBytes: 200, maxHeaderBytes: 300)
        var parser = HTTPRequestParser(limits: limits)
        let stream = Array(("GET / HTTP/1.1\r\n" + String(repeating: "X-A: 123456789\r\n", count: 100)).utf8)
        var maximum = 0
        for byte in stream {
            let step = parser.feed([byte])
            maximum = max(maximum, parser.bufferedBytes)
            if step.event != nil {
                #expect(step.event == .error(.headersTooLarge))
                break
            }
        }
        #expect(maximum <= 200 + 300)
        #expect(parser.phase == .failed)
    }
}
