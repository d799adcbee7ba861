import COpenSSL
import Core
import Foundation
import Testing

@testable import GatewayCore

/// Test certificates (see Fixtures/tls/README.md).
enum TLSFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A TLS client over memory BIOs: what it wants to send is read from `pending`, what the
/// server sent is given to `receive`.
final class MemoryTLSClient {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let rbio: OpaquePointer
    private let wbio: OpaquePointer

    init(certificate: String? = nil, key: String? = nil, maxVersion: Int32? = nil) {
        context = SSL_CTX_new(TLS_client_method())
        SSL_CTX_load_verify_locations(context, TLSFixtures.path("ca.pem"), nil)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let certificate, let key {
            SSL_CTX_use_certificate_chain_file(context, TLSFixtures.path(certificate))
            SSL_CTX_use_PrivateKey_file(context, TLSFixtures.path(key), SSL_FILETYPE_PEM)
        }
        if let maxVersion { _ = ampora_ssl_ctx_set_max_proto(context, maxVersion) }
        ssl = SSL_new(context)
        rbio = BIO_new(BIO_s_mem())
        wbio = BIO_new(BIO_s_mem())
        SSL_set_bio(ssl, rbio, wbio)
        SSL_set_connect_state(ssl)
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    var isEstablished: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Advances the handshake as far as the bytes received so far allow.
    func handshake() { _ = SSL_do_handshake(ssl) }

    /// Ciphertext the client wants to send.
    func pending() -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while BIO_ctrl_pending(wbio) > 0 {
            let n = chunk.withUnsafeMutableBytes { BIO_read(wbio, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { break }
            bytes += chunk.prefix(Int(n))
        }
        return bytes
    }

    /// Ciphertext from the server.
    func receive(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { BIO_write(rbio, $0.baseAddress, Int32($0.count)) }
    }

    /// Encrypts application data (then read it from `pending`).
    func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
    }

    /// Decrypted application data received so far.
    func read() -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { break }
            bytes += chunk.prefix(Int(n))
        }
        return bytes
    }
}

/// One TLS connection (`AgentLink` on a loop whose configuration has TLS), driven by hand.
final class TLSRig {
    let ctx: LoopContext
    let clock = ManualClock(1_000_000)
    var link: AgentLink

    static let mutual = TLSSettings(
        certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"),
        clientCAFile: TLSFixtures.path("ca.pem"), clientAuth: .require)

    init(
        _ settings: TLSSettings = TLSSettings(
            certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"))
    ) throws {
        var configuration = GatewayConfiguration()
        configuration.tls = try TLSContext(settings)
        ctx = LoopContext(
            configuration: configuration, directory: InMemoryAgentDirectory(), live: LiveAgents(),
            httpSessions: HTTPSessionStore(), registrations: RegistrationLimiter(rate: 0, burst: 1), loopIndex: 0,
            clock: clock)
        link = .accepted(token: 1, ctx)
    }

    /// Another connection on the same loop.
    func another(token: UInt64) -> AgentLink { .accepted(token: token, ctx) }

    @discardableResult
    func handle(_ event: ConnectionEvent) -> (action: ConnectionAction, out: [UInt8]) {
        var out: [UInt8] = []
        let action = link.handle(event, ctx, &out)
        return (action, out)
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> (action: ConnectionAction, out: [UInt8]) {
        var input = bytes
        var out: [UInt8] = []
        let action = input.lendingBytes { link.receive(&$0, ctx, &out) }
        return (action, out)
    }

    /// Runs the handshake between `client` and the server; the last server action.
    @discardableResult
    func handshake(_ client: MemoryTLSClient) -> ConnectionAction {
        var action = ConnectionAction.none
        for _ in 0..<8 {
            client.handshake()
            let bytes = client.pending()
            if bytes.isEmpty { break }
            let r = send(bytes)
            action = r.action
            client.receive(r.out)
            if action != .none { break }
        }
        client.handshake()
        return action
    }

    /// Sends `plain` through the client's TLS; returns the server's action and decrypted reply.
    func exchange(_ client: MemoryTLSClient, _ plain: [UInt8]) -> (action: ConnectionAction, reply: [UInt8]) {
        client.write(plain)
        let r = send(client.pending())
        client.receive(r.out)
        return (r.action, client.read())
    }
}

@Suite struct TLSChannelTests {
    @Test func anAgentUpgradesAndIsAnsweredOverTLS() throws {
        let rig = try TLSRig()
        let client = MemoryTLSClient()
        #expect(rig.handshake(client) == .none)
        #expect(client.isEstablished)
        #expect(rig.ctx.counters.tlsHandshakes == 1)
        let upgrade = rig.exchange(client, Array(ConnectionMachineTests.upgradeRequest.utf8))
        #expect(String(decoding: upgrade.reply, as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        let hello = clientFrame(opcode: 0x2, [0] + agentMessage(testUID(1)).serializedBytes())
        let reply = rig.exchange(client, hello)
        #expect(serverMessages(reply.reply).first?.instanceUid == testUID(1).bytes)
        #expect(rig.link.machine.peerIdentity == nil, "no client certificate was asked for")
    }

    @Test func theRSACertificateServesToo() throws {
        let rig = try TLSRig(
            TLSSettings(
                certificateFile: TLSFixtures.path("server-rsa.pem"), keyFile: TLSFixtures.path("server-rsa.key")))
        let client = MemoryTLSClient()
        rig.handshake(client)
        #expect(client.isEstablished)
    }

    @Test func aVerifiedClientCertificateBecomesThePeerIdentity() throws {
        let rig = try TLSRig(
            TLSSettings(
                certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"),
                clientCAFile: TLSFixtures.path("ca.pem"), clientAuth: .require))
        let client = MemoryTLSClient(certificate: "client.pem", key: "client.key")
        rig.handshake(client)
        #expect(client.isEstablished)
        _ = rig.exchange(client, Array(ConnectionMachineTests.upgradeRequest.utf8))
        #expect(rig.link.machine.peerIdentity?.hasPrefix("sha256:") == true)
        #expect(rig.link.machine.peerIdentity?.count == 7 + 64)
    }

    @Test func aRequiredClientCertificateThatIsMissingFailsTheHandshake() throws {
        let rig = try TLSRig(
            TLSSettings(
                certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"),
                clientCAFile: TLSFixtures.path("ca.pem"), clientAuth: .require))
        let client = MemoryTLSClient()
        let action = rig.handshake(client)
        #expect(action == .finish, "the alert is sent, then the connection closes")
        // A TLS 1.3 client thinks it is done and sends data: dropped, not counted again.
        client.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(rig.send(client.pending()).out.isEmpty)
        #expect(rig.ctx.counters.tlsHandshakeFailures.certificate == 1)
        #expect(rig.ctx.counters.tlsHandshakeFailures.other == 0)
        #expect(rig.ctx.counters.tlsHandshakes == 0)
    }

    @Test func aClientCertificateFromAnotherCAIsRefused() throws {
        let rig = try TLSRig(
            TLSSettings(
                certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"),
                clientCAFile: TLSFixtures.path("ca.pem")))
        let client = MemoryTLSClient(certificate: "stranger.pem", key: "stranger.key")
        #expect(rig.handshake(client) == .finish)
        #expect(rig.ctx.counters.tlsHandshakeFailures.certificate == 1)
    }

    @Test func anOldTLSVersionIsRefusedWhenTheMinimumIs13() throws {
        let rig = try TLSRig(
            TLSSettings(
                certificateFile: TLSFixtures.path("server.pem"), keyFile: TLSFixtures.path("server.key"),
                minimumVersion: .tls13))
        let client = MemoryTLSClient(maxVersion: ampora_tls1_2_version())
        #expect(rig.handshake(client) == .finish)
        #expect(rig.ctx.counters.tlsHandshakeFailures.version == 1)
    }

    @Test func plainHTTPOnTheTLSPortIsCountedAndClosed() throws {
        let rig = try TLSRig()
        let r = rig.send(Array(ConnectionMachineTests.upgradeRequest.utf8))
        #expect(r.action == .finish)
        #expect(!String(decoding: r.out, as: UTF8.self).contains("HTTP/1.1"), "nothing is answered in the clear")
        #expect(rig.ctx.counters.tlsHandshakeFailures.notTLS == 1)
    }

    /// A handshake that stalls is closed by the header deadline, without a word in the clear.
    @Test func aStalledHandshakeIsClosedAtTheHeaderTimeout() throws {
        let rig = try TLSRig()
        let client = MemoryTLSClient()
        client.handshake()
        let hello = client.pending()
        rig.send(Array(hello.prefix(20)))  // part of a ClientHello, then nothing
        rig.clock.set(1_000_000 + GatewayConfiguration().headerTimeoutMilliseconds + 1)
        rig.ctx.advance()
        let late = rig.handle(.tick)
        #expect(late.action == .close)
        #expect(late.out.isEmpty)
        #expect(rig.ctx.counters.timeouts == 1)
    }

    /// Records split anywhere across reads are put back together.
    @Test func recordsSplitAcrossReadsAreReassembled() throws {
        let rig = try TLSRig()
        let client = MemoryTLSClient()
        rig.handshake(client)
        client.write(Array(ConnectionMachineTests.upgradeRequest.utf8))
        let bytes = client.pending()
        var out: [UInt8] = []
        for byte in bytes { out += rig.send([byte]).out }
        client.receive(out)
        #expect(String(decoding: client.read(), as: UTF8.self).hasPrefix("HTTP/1.1 101"))
    }

    @Test func aClosingConnectionSendsCloseNotify() throws {
        let rig = try TLSRig()
        let client = MemoryTLSClient()
        rig.handshake(client)
        _ = rig.exchange(client, Array(ConnectionMachineTests.upgradeRequest.utf8))
        let bye = rig.handle(.shutdown)
        #expect(bye.action == .finish)
        client.receive(bye.out)
        #expect(closeCode(client.read()) == 1001)
    }

    /// The first certificate that speaks for a uid owns it: another certificate claiming the
    /// uid is refused, and the owner stays connected and served.
    @Test func aUIDBoundToOneCertificateCannotBeTakenWithAnother() throws {
        let rig = try TLSRig(TLSRig.mutual)
        let owner = MemoryTLSClient(certificate: "client.pem", key: "client.key")
        rig.handshake(owner)
        _ = rig.exchange(owner, Array(ConnectionMachineTests.upgradeRequest.utf8))
        let hello = clientFrame(opcode: 0x2, [0] + agentMessage(testUID(1)).serializedBytes())
        #expect(serverMessages(rig.exchange(owner, hello).reply).first?.errorResponse == nil)

        let ownerLink = rig.link
        rig.link = rig.another(token: 2)
        let thief = MemoryTLSClient(certificate: "client2.pem", key: "client2.key")
        rig.handshake(thief)
        _ = rig.exchange(thief, Array(ConnectionMachineTests.upgradeRequest.utf8))
        let stolen = serverMessages(rig.exchange(thief, hello).reply).first
        #expect(stolen?.errorResponse?.type == .badRequest)
        #expect(rig.ctx.counters.rejectedIdentity == 1)

        rig.link = ownerLink
        let beat = clientFrame(opcode: 0x2, [0] + agentMessage(testUID(1), seq: 1).serializedBytes())
        #expect(
            serverMessages(rig.exchange(owner, beat).reply).first?.errorResponse == nil, "the owner is still served")
    }
}

@Suite struct ALPNTests {
    static func list(_ names: [String]) -> [UInt8] { names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } }

    @Test func findsHTTP11AnywhereInTheOfferedList() {
        #expect(ALPN.http11(in: Self.list(["http/1.1"]).span.bytes) == 1)
        #expect(ALPN.http11(in: Self.list(["h2", "http/1.1"]).span.bytes) == 4)
        #expect(ALPN.http11(in: Self.list(["h2", "http/1.0", "http/1.1", "x"]).span.bytes) == 13)
    }

    @Test func refusesListsWithoutItOrMalformed() {
        #expect(ALPN.http11(in: Self.list(["h2"]).span.bytes) == nil)
        #expect(ALPN.http11(in: Self.list(["http/1.10"]).span.bytes) == nil)
        #expect(ALPN.http11(in: [UInt8]().span.bytes) == nil)
        // A length byte that runs past the end.
        #expect(ALPN.http11(in: ([20] + Array("http/1.1".utf8)).span.bytes) == nil)
        #expect(ALPN.http11(in: (Self.list(["h2"]) + [8] + Array("http/1.".utf8)).span.bytes) == nil)
    }
}
