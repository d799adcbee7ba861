import CLinux
import Glibc

/// A small blocking HTTP/1.1 server for low-traffic endpoints (health probes, metrics) until
/// the operator plane has its own server. One request per connection, 5 s to send it.
public final class SimpleHTTPServer: @unchecked Sendable {
    /// A handler's answer.
    public struct Reply: Sendable {
        /// Status code.
        public var status: HTTPStatus
        /// `Content-Type` of the body.
        public var contentType: String
        /// Body bytes.
        public var body: [UInt8]

        /// A reply with a text body.
        public init(status: HTTPStatus, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = Array(body.utf8)
        }
    }

    private let handler: @Sendable (HTTPRequest) -> Reply
    private var listenFD: Int32 = -1
    private var thread: pthread_t?

    /// The bound port.
    public private(set) var port: UInt16 = 0

    /// A server calling `handler` for each request.
    public init(handler: @escaping @Sendable (HTTPRequest) -> Reply) {
        self.handler = handler
    }

    /// Binds and starts the accept thread.
    public func start(_ address: SocketAddress) throws(SystemError) {
        let fd = try Listener.open(address, backlog: 64)
        // The accept loop blocks; make the socket blocking again.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        listenFD = fd
        port = Listener.boundPort(fd)
        let handler = self.handler
        thread = try LoopThread.spawn(name: "ampora-http") {
            while true {
                let client = ampora_accept4(fd, Int32(SOCK_CLOEXEC.rawValue))
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                Self.serve(client, handler)
                Sys.close(client)
            }
        }
    }

    /// Stops accepting.
    public func stop() {
        if listenFD >= 0 {
            _ = shutdown(listenFD, Int32(SHUT_RDWR))
            Sys.close(listenFD)
            listenFD = -1
        }
        if let thread { LoopThread.join(thread) }
        thread = nil
    }

    private static func serve(_ fd: Int32, _ handler: (HTTPRequest) -> Reply) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var parser = HTTPRequestParser(limits: HTTPLimits(maxBodyBytes: 1 << 20))
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var out: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            let step = buffer.withUnsafeBytes { parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            switch step.event {
            case nil, .continueExpected?:
                continue
            case .error(let error)?:
                error.writeResponse(into: &out)
            case .request(let request)?:
                let reply = handler(request)
                HTTPResponse(
                    status: reply.status,
                    headers: [("Content-Type", reply.contentType), ("Connection", "close")],
                    contentLength: reply.body.count
                ).writeHead(into: &out)
                out.append(contentsOf: reply.body)
            }
            var offset = 0
            while offset < out.count {
                let w = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if w <= 0 { return }
                offset += w
            }
            return
        }
    }
}
