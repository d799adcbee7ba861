import Core
import Foundation
import Testing

@testable import Gateway
@testable import GatewayCore

/// A blocking WebSocket client on loopback, enough to drive the gateway in-process.
struct TestAgent {
    let fd: Int32
    /// What the last short read saw (result, errno), for failure messages.
    nonisolated(unsafe) static var lastRead: (Int, Int32) = (0, 0)
    var lastReadResult: (Int, Int32) {
        get { Self.lastRead }
        nonmutating set { Self.lastRead = newValue }
    }

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw SystemError(call: "connect", errno: errno) }
        write(
            Array(
                "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    .utf8))
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard let b = readBytes(1).first else {
                let (n, e) = lastReadResult
                throw SystemError(
                    call: "handshake: read returned \(n) after \(head.count) bytes", errno: e == 0 ? EIO : e)
            }
            head.append(b)
        }
        guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw SystemError(call: "handshake", errno: EPROTO)
        }
    }

    func write(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { return }
            off += n
        }
    }

    func readBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                lastReadResult = (n, n < 0 ? errno : 0)
                return Array(out[..<got])
            }
            got += n
        }
        return out
    }

    /// Sends one masked binary frame holding the OpAMP payload (header 0 + message).
    func send(_ message: AgentToServer) {
        let payload = [0] + message.serializedBytes()
        var frame: [UInt8] = [0x82]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [1, 2, 3, 4]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        write(frame)
    }

    /// Reads one server frame and decodes its ServerToAgent.
    func receive() throws -> ServerToAgent {
        let h = readBytes(2)
        guard h.count == 2, h[0] == 0x82 else {
            // Say what came instead (EOF, a close frame, …) so a failure explains itself.
            let rest = h.count == 2 ? readBytes(Int(h[1] & 0x7F)) : []
            throw SystemError(call: "frame: expected a binary frame, got \(h + rest) (errno \(errno))", errno: EPROTO)
        }
        var length = Int(h[1] & 0x7F)
        if length == 126 {
            let l = readBytes(2)
            length = Int(l[0]) << 8 | Int(l[1])
        } else if length == 127 {
            length = readBytes(8).reduce(0) { $0 << 8 | Int($1) }
        }
        let payload = readBytes(length)
        return try ServerToAgent(serializedBytes: payload.dropFirst())
    }

    func close() { Glibc.close(fd) }

    /// Connects like a real agent: a refused or dropped handshake is retried (twice) after a
    /// short pause. One early EOF during a handshake was seen once in CI and never reproduced;
    /// `retries` counts them so a pattern would show in the failure.
    nonisolated(unsafe) static var retries = 0

    static func connecting(port: UInt16) throws -> TestAgent {
        var attempt = 0
        while true {
            do {
                return try TestAgent(port: port)
            } catch {
                attempt += 1
                retries += 1
                if attempt > 2 { throw error }
                usleep(50_000)
            }
        }
    }
}

/// Servers started in-process; run one at a time so they do not compete for the two cores.
@Suite(.serialized) struct InProcessServerTests {}

extension InProcessServerTests {
    @Suite(.serialized) struct GatewayServerTests {
        static let engines: [IOEngine] = [.uring, .epoll]

        @Test(arguments: engines)
        func pushReachesConnectedAgentsOnAnyLoop(_ engine: IOEngine) throws {
            let directory = InMemoryAgentDirectory()
            let server = GatewayServer(
                address: try SocketAddress(host: "127.0.0.1", port: 0), loops: 2, engine: engine, directory: directory)
            try server.start()
            defer { server.stop() }
            #expect(server.engine == engine)

            var agents: [(TestAgent, [UInt8])] = []
            for n in 0..<4 {
                let agent = try TestAgent.connecting(port: server.port)
                let uid = [UInt8](repeating: UInt8(n + 1), count: 16)
                var hello = AgentToServer()
                hello.instanceUid = uid
                hello.capabilities = AgentCapabilities([.reportsStatus, .acceptsRemoteConfig]).rawValue
                hello.agentDescription = AgentDescription()
                agent.send(hello)
                let first = try agent.receive()
                #expect(first.instanceUid == uid)
                #expect(first.remoteConfig == nil)
                agents.append((agent, uid))
            }
            defer { for (agent, _) in agents { agent.close() } }

            var config = AgentRemoteConfig()
            var file = AgentConfigFile()
            file.body = Array("receivers: {otlp: {}}".utf8)
            var map = AgentConfigMap()
            map.configMap["collector.yaml"] = file
            config.config = map
            config.configHash = [0xC0, 0xFF, 0xEE]
            directory.setDesired(DesiredState(remoteConfig: SharedRemoteConfig(config)))

            // One agent by uid (routed to the loop that holds it), then everyone else.
            #expect(server.push(InstanceUID(bytes: agents[2].1)!))
            let pushed = try agents[2].0.receive()
            #expect(pushed.remoteConfig?.configHash == [0xC0, 0xFF, 0xEE])
            #expect(pushed.instanceUid == agents[2].1)
            server.pushAll()
            for (i, (agent, uid)) in agents.enumerated() where i != 2 {
                let reply = try agent.receive()
                #expect(reply.remoteConfig?.configHash == [0xC0, 0xFF, 0xEE])
                #expect(reply.instanceUid == uid)
            }
            #expect(!server.push(InstanceUID(high: 9, low: 9)))
        }
    }

    @Suite(.serialized) struct RingGrowthTests {
        /// A started io_uring server with one loop of 128-slot rings (96 usable), growing to `maxRings`.
        static func smallRings(maxRings: Int) throws -> GatewayServer {
            var configuration = GatewayConfiguration()
            configuration.slotsPerRing = 128
            configuration.maxRings = maxRings
            let server = GatewayServer(
                configuration: configuration, address: try SocketAddress(host: "127.0.0.1", port: 0), loops: 1,
                engine: .uring, directory: InMemoryAgentDirectory())
            try server.start()
            return server
        }

        /// A burst queued on the listener all at once: a multishot accept would take the whole
        /// queue into a ring with 128 slots and the kernel would reset what did not fit. Every
        /// connection must be accepted (by this ring or a new one), none reset.
        @Test func aBurstLargerThanARingIsAcceptedWithoutResets() throws {
            let server = try Self.smallRings(maxRings: 8)
            defer { server.stop() }
            let request = Array(
                "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    .utf8)
            var fds: [Int32] = []
            defer { for fd in fds { Glibc.close(fd) } }
            for _ in 0..<400 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = server.port.bigEndian
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                let rc = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                #expect(rc == 0)
                _ = request.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                fds.append(fd)
            }
            var upgraded = 0
            for fd in fds {
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var head = [UInt8](repeating: 0, count: 12)
                let n = head.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_WAITALL)) }
                if n == 12 && String(decoding: head, as: UTF8.self) == "HTTP/1.1 101" { upgraded += 1 }
            }
            #expect(upgraded == 400, "\(400 - upgraded) of 400 connections were reset or never answered")
            #expect(server.ringCount >= 5)
        }

        /// Small rings fill quickly: the engine must start more of them rather than refuse agents.
        @Test func ringsAreAddedAsTheyFill() throws {
            let server = try Self.smallRings(maxRings: 4)
            defer { server.stop() }
            var agents: [TestAgent] = []
            defer { for agent in agents { agent.close() } }
            for n in 0..<250 {
                let agent = try TestAgent.connecting(port: server.port)
                var hello = AgentToServer()
                hello.instanceUid = [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 15) + [UInt8(n >> 8)]
                hello.capabilities = AgentCapabilities.reportsStatus.rawValue
                hello.agentDescription = AgentDescription()
                agent.send(hello)
                #expect(try agent.receive().instanceUid == hello.instanceUid)
                agents.append(agent)
            }
            #expect(server.ringCount >= 3, "250 agents over rings of 96 usable slots")
            #expect(TestAgent.retries <= 2, "handshakes retried: \(TestAgent.retries)")
            #expect(server.ringCount <= 4)
        }
    }
}
