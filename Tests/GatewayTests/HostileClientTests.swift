import Core
import Foundation
import Synchronization
import Testing

@testable import Gateway
@testable import GatewayCore

/// A directory with an inventory bound, counting what the gateway hands it.
final class BoundedDirectory: AgentDirectory, Sendable {
    private struct State {
        var known: Set<InstanceUID>
        var recorded: [StatusChanges] = []
        var desired = DesiredState()
        var certificateRequests: [[UInt8]] = []
        var revoked: Set<InstanceUID> = []
    }

    private let state: Mutex<State>
    let maxAgents: Int

    init(maxAgents: Int = .max, known: [InstanceUID] = []) {
        self.maxAgents = maxAgents
        self.state = Mutex(State(known: Set(known)))
    }

    var records: [StatusChanges] { state.withLock { $0.recorded } }
    func desiredState(for uid: InstanceUID) -> DesiredState { state.withLock { $0.desired } }
    /// What every agent should now have (a push offers it).
    func setDesired(_ desired: DesiredState) { state.withLock { $0.desired = desired } }
    func knownState(for uid: InstanceUID) -> SessionSeed? { nil }
    func record(_ changes: StatusChanges) { state.withLock { $0.recorded.append(changes) } }
    func isKnown(_ uid: InstanceUID) -> Bool { state.withLock { $0.known.contains(uid) } }
    func register(_ uid: InstanceUID) -> Bool {
        state.withLock { s in
            guard s.known.count < maxAgents else { return false }
            s.known.insert(uid)
            return true
        }
    }
    /// Revokes `uid` (true) or readmits it (false).
    func setRevoked(_ uid: InstanceUID, _ revoked: Bool) {
        state.withLock { s in
            if revoked { s.revoked.insert(uid) } else { s.revoked.remove(uid) }
        }
    }
    func isRevoked(uid: InstanceUID) -> Bool { state.withLock { $0.revoked.contains(uid) } }
    /// CSRs seen so far.
    var certificateRequests: [[UInt8]] { state.withLock { $0.certificateRequests } }
    /// Refuses the CSR `bad`; any other is "signed": the desired state offers it back as the
    /// certificate.
    func certificateRequest(_ uid: InstanceUID, csr: [UInt8]) -> String? {
        state.withLock { s in
            s.certificateRequests.append(csr)
            guard csr != Array("bad".utf8) else { return "refused: bad" }
            var certificate = TLSCertificate()
            certificate.cert = csr
            var opamp = OpAMPConnectionSettings()
            opamp.certificate = certificate
            var offers = ConnectionSettingsOffers()
            offers.opamp = opamp
            offers.hash = csr
            s.desired.connectionSettings = offers
            return nil
        }
    }
}

/// One connection and its loop context, driven by hand: time is a `ManualClock` the test sets.
final class ConnectionRig {
    let ctx: LoopContext
    let clock: ManualClock
    var connection: ConnectionMachine
    let directory: BoundedDirectory

    init(_ configuration: GatewayConfiguration = GatewayConfiguration(), directory: BoundedDirectory = .init()) {
        self.directory = directory
        clock = ManualClock(1_000_000)
        ctx = LoopContext(
            configuration: configuration, directory: directory, live: LiveAgents(), httpSessions: HTTPSessionStore(),
            registrations: RegistrationLimiter(
                rate: configuration.registrationsPerSecond, burst: configuration.registrationBurst),
            loopIndex: 0, clock: clock)
        connection = .accepted(token: 7, ctx)
    }

    /// A second connection on `other`'s loop (same context, clock and directory).
    init(sharing other: ConnectionRig, token: UInt64) {
        directory = other.directory
        clock = other.clock
        ctx = other.ctx
        connection = .accepted(token: token, ctx)
    }

    /// Hands the machine one event at the current time; returns its action and what it sent.
    @discardableResult
    func handle(_ event: ConnectionEvent) -> (action: ConnectionAction, out: [UInt8]) {
        var out: [UInt8] = []
        let action = connection.handle(event, ctx, &out)
        return (action, out)
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> (action: ConnectionAction, out: [UInt8]) {
        var input = bytes
        var out: [UInt8] = []
        let action = input.lendingBytes { connection.receive(&$0, ctx, &out) }
        return (action, out)
    }

    @discardableResult
    func send(_ text: String) -> (action: ConnectionAction, out: [UInt8]) { send(Array(text.utf8)) }

    /// Moves the clock to `milliseconds` after the rig's start, then runs a timer pass.
    @discardableResult
    func tick(at milliseconds: UInt64) -> (action: ConnectionAction, out: [UInt8]) {
        advance(to: milliseconds)
        return handle(.tick)
    }

    /// Moves the clock to `milliseconds` after the rig's start.
    func advance(to milliseconds: UInt64) {
        clock.set(1_000_000 + milliseconds)
        ctx.advance()
    }

    /// The body storage of the request being read, to see whether a receive copied it.
    var bodyStorage: UnsafeRawPointer? {
        guard case .http(let parser) = connection.phase else { return nil }
        return parser.body.withUnsafeBytes { $0.baseAddress }
    }

    func upgrade() {
        let r = send(
            "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        precondition(String(decoding: r.out, as: UTF8.self).hasPrefix("HTTP/1.1 101"))
    }

    /// Sends one OpAMP message in a masked binary frame; returns the decoded reply.
    func opamp(_ message: AgentToServer) -> ServerToAgent? {
        let payload = [0] + message.serializedBytes()
        var frame: [UInt8] = [0x82]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        frame += [0, 0, 0, 0] + payload  // mask key 0: the payload is sent as is
        let out = send(frame).out
        guard out.count > 2, out[0] == 0x82 else { return nil }
        var offset = 2
        if out[1] == 126 { offset = 4 } else if out[1] == 127 { offset = 10 }
        return try? ServerToAgent(serializedBytes: Array(out[(offset + 1)...]))
    }

    /// One plain-HTTP OpAMP exchange on this (keep-alive) connection.
    func post(_ message: AgentToServer) -> ServerToAgent? {
        let body = message.serializedBytes()
        let head =
            "POST /v1/opamp HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nContent-Length: \(body.count)\r\n\r\n"
        let out = send(Array(head.utf8) + body).out
        guard let end = out.firstRange(of: [13, 10, 13, 10]) else { return nil }
        return try? ServerToAgent(serializedBytes: Array(out[end.upperBound...]))
    }
}

func agentMessage(_ uid: InstanceUID, seq: UInt64 = 0, attributes: Int = 1) -> AgentToServer {
    var m = AgentToServer()
    m.instanceUid = uid.bytes
    m.sequenceNum = seq
    m.capabilities = AgentCapabilities.reportsStatus.rawValue
    var d = AgentDescription()
    d.identifyingAttributes = (0..<attributes).map { i in
        var kv = KeyValue()
        kv.key = "k\(i)"
        var v = AnyValue()
        v.value = .stringValue("v")
        kv.value = v
        return kv
    }
    m.agentDescription = d
    return m
}

func testUID(_ i: Int) -> InstanceUID {
    InstanceUID(high: 0x0190_b000_0000_7000, low: 0x8000_0000_0000_0000 | UInt64(i))
}

@Suite struct HostileClientTests {
    /// The body used to be copied on every receive (the parser was mutated while `phase` still
    /// held it): 960 receives of a 60 MiB body made 960 copies, 29 GB of memmove. Reading in
    /// place, the storage moves only when the array grows geometrically: the work is linear.
    @Test func aPlainHTTPBodyIsReadInPlace() {
        let rig = ConnectionRig()
        let size = 60 << 20
        let chunk = 64 << 10
        _ = rig.send(
            "POST /v1/opamp HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nContent-Length: \(size)\r\n\r\n"
        )
        var moves = 0
        var last: UnsafeRawPointer?
        var response: [UInt8] = []
        for offset in stride(from: 0, to: size, by: chunk) {
            let r = rig.send([UInt8](repeating: 0, count: min(chunk, size - offset)))
            response += r.out
            if let now = rig.bodyStorage, now != last {
                moves += 1
                last = now
            }
        }
        #expect(moves <= 16, "the body moved \(moves) times in \(size / chunk) receives")
        #expect(String(decoding: response.prefix(12), as: UTF8.self) == "HTTP/1.1 200")
    }

    /// Blank lines before a request line may be skipped (RFC 9112 §2.2) but are no progress:
    /// they used to restart the header timeout for ever.
    @Test func blankLinesDoNotExtendTheHeaderDeadline() {
        let rig = ConnectionRig()
        for second in stride(from: 0, through: 9, by: 2) {
            _ = rig.tick(at: UInt64(second) * 1000)
            #expect(rig.send("\r\n").action == .none)
            #expect(rig.tick(at: UInt64(second) * 1000 + 500).action == .none)
        }
        let late = rig.tick(at: 10_001)
        #expect(late.action == .finish)
        #expect(String(decoding: late.out, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
    }

    @Test func aSilentConnectionGets408AtTheHeaderTimeout() {
        let rig = ConnectionRig()
        #expect(rig.tick(at: 9_999).action == .none)
        let late = rig.tick(at: 10_001)
        #expect(late.action == .finish, "the documented 10 s, not 30 s")
        #expect(String(decoding: late.out, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
    }

    @Test func aHalfSentHeadGets408FromItsFirstByte() {
        let rig = ConnectionRig()
        _ = rig.send("POST /v1/opamp HTTP/1.1\r\nHo")
        _ = rig.tick(at: 8_000)
        _ = rig.send("st")
        #expect(rig.tick(at: 10_001).action == .finish)
    }

    @Test func aKeepAlivePollerMayWaitBetweenRequests() {
        let rig = ConnectionRig()
        #expect(rig.post(agentMessage(testUID(1))) != nil)
        #expect(rig.tick(at: 20_000).action == .none, "between requests the keep-alive idle limit applies")
        let closed = rig.tick(at: 30_001)
        #expect(closed.action == .close && closed.out.isEmpty, "then it is let go silently")
    }

    @Test func theBodyDeadlineScalesWithTheBodysSize() {
        let big = ConnectionRig()
        _ = big.send(
            "POST /v1/opamp HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nContent-Length: \(60 << 20)\r\n\r\n"
        )
        _ = big.send([UInt8](repeating: 0, count: 1000))
        #expect(big.tick(at: 60_000).action == .none, "60 MB at 256 KiB/s may take 4 minutes")
        #expect(big.tick(at: 300_000).action == .finish)
        let small = ConnectionRig()
        _ = small.send(
            "POST /v1/opamp HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n"
        )
        #expect(small.tick(at: 30_000).action == .none)
        #expect(small.tick(at: 31_000).action == .finish)
    }

    @Test func aDescriptionOverTheAttributeCapIsRefusedAndCounted() {
        var configuration = GatewayConfiguration()
        configuration.maxAttributesPerDescription = 100
        let rig = ConnectionRig(configuration)
        rig.upgrade()
        let refused = rig.opamp(agentMessage(testUID(1), attributes: 101))
        #expect(refused?.errorResponse?.type == .badRequest)
        #expect(refused?.errorResponse?.errorMessage.contains("100 attributes") == true)
        #expect(rig.ctx.counters.rejectedTooManyAttributes == 1)
        #expect(rig.directory.records.isEmpty, "nothing of the refused message reaches the fleet")
        let accepted = rig.opamp(agentMessage(testUID(1), attributes: 100))
        #expect(accepted?.errorResponse == nil)
        #expect(rig.directory.records.count == 1)
    }

    /// One keep-alive connection (a fan-in gateway, or an attacker) registers new agents at the
    /// configured rate after a burst; agents the fleet knows are never limited.
    @Test func newAgentRegistrationsAreRateLimited() {
        var configuration = GatewayConfiguration()
        configuration.registrationsPerSecond = 10
        configuration.registrationBurst = 20
        let known = (1000..<1010).map(testUID)
        let rig = ConnectionRig(configuration, directory: BoundedDirectory(known: known))
        var outcomes: [ServerErrorResponseType?] = []
        for i in 0..<25 { outcomes.append(rig.post(agentMessage(testUID(i)))?.errorResponse?.type) }
        #expect(outcomes.prefix(20).allSatisfy { $0 == nil })
        #expect(outcomes.suffix(5).allSatisfy { $0 == .unavailable })
        let refused = rig.post(agentMessage(testUID(99)))
        guard case .retryInfo(let retry)? = refused?.errorResponse?.details else {
            Issue.record("UNAVAILABLE carries RetryInfo")
            return
        }
        #expect(retry.retryAfterNanoseconds > 0)
        #expect(rig.ctx.counters.rejectedRegistrationRate == 6)
        for uid in known { #expect(rig.post(agentMessage(uid))?.errorResponse == nil) }
        _ = rig.tick(at: 1_000)
        let later = (200..<212).map { rig.post(agentMessage(testUID($0)))?.errorResponse?.type }
        #expect(later.filter { $0 == nil }.count == 10, "one second later: ten more")
    }

    @Test func aFullInventoryTurnsNewAgentsAway() {
        let rig = ConnectionRig(directory: BoundedDirectory(maxAgents: 3))
        for i in 0..<3 { #expect(rig.post(agentMessage(testUID(i)))?.errorResponse == nil) }
        let full = rig.post(agentMessage(testUID(3)))
        #expect(full?.errorResponse?.type == .unavailable)
        #expect(full?.errorResponse?.errorMessage.contains("--max-agents") == true)
        #expect(rig.ctx.counters.rejectedInventoryFull == 1)
        #expect(rig.post(agentMessage(testUID(1), seq: 1))?.errorResponse == nil, "known agents stay served")
    }

    @Test func aPlainHTTPAgentThatStopsPollingIsMarkedDisconnected() {
        var configuration = GatewayConfiguration()
        configuration.httpAgentTimeoutMilliseconds = 90_000
        let rig = ConnectionRig(configuration)
        #expect(rig.post(agentMessage(testUID(1))) != nil)
        rig.advance(to: 60_000)
        rig.ctx.expireHTTPSessions()
        #expect(!rig.directory.records.contains { $0.disconnected })
        rig.advance(to: 91_000)
        rig.ctx.expireHTTPSessions()
        let gone = rig.directory.records.filter(\.disconnected)
        #expect(gone.map(\.instanceUID) == [testUID(1)])
        #expect(rig.ctx.counters.httpAgentsExpired == 1)
        #expect(rig.ctx.httpSessions.count == 0)
    }

    @Test func aWebSocketConnectionSpeaksForOneAgent() {
        let rig = ConnectionRig()
        rig.upgrade()
        #expect(rig.opamp(agentMessage(testUID(1)))?.errorResponse == nil)
        let foreign = rig.opamp(agentMessage(testUID(2)))
        #expect(foreign?.errorResponse?.type == .badRequest)
        #expect(rig.directory.records.allSatisfy { $0.instanceUID == testUID(1) })
        var bye = agentMessage(testUID(1), seq: 1)
        bye.agentDisconnect = AgentDisconnect()
        #expect(rig.opamp(bye)?.errorResponse == nil)
        #expect(rig.opamp(agentMessage(testUID(1), seq: 2))?.errorResponse?.type == .badRequest)
    }

    /// A uid the server assigns is a new agent too: switching to it is a registration, and a
    /// foreign uid the session refuses (S26) takes no room at all.
    @Test func switchingToAnAssignedUIDCountsAsARegistration() {
        let directory = BoundedDirectory(maxAgents: 1)
        let rig = ConnectionRig(directory: directory)
        rig.upgrade()
        var first = agentMessage(testUID(1))
        first.flags = AgentToServerFlags.requestInstanceUid.rawValue
        let assigned = rig.opamp(first)?.agentIdentification?.newInstanceUid ?? []
        #expect(assigned.count == 16)
        #expect(rig.opamp(agentMessage(testUID(2), seq: 1))?.errorResponse?.type == .badRequest)
        #expect(!directory.isKnown(testUID(2)), "a refused foreign uid is not registered")
        let switched = rig.opamp(agentMessage(InstanceUID(bytes: assigned)!, seq: 1))
        #expect(switched?.errorResponse?.type == .unavailable, "the inventory (1 agent) is full")
        #expect(rig.ctx.counters.rejectedInventoryFull == 1)
    }

    @Test func head405And404HaveNoBody() {
        for (request, status) in [
            ("HEAD /v1/opamp HTTP/1.1\r\nHost: t\r\n\r\n", "405"), ("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n", "404"),
        ] {
            let rig = ConnectionRig()
            let text = String(decoding: rig.send(request).out, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 \(status)"))
            #expect(text.hasSuffix("\r\n\r\n"), "RFC 9110 §9.3.2: \(text)")
            #expect(text.contains("Content-Length: "))
        }
    }

    @Test func aDuplicateWebSocketKeyIsRefused() {
        let rig = ConnectionRig()
        let r = rig.send(
            "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        #expect(String(decoding: r.out, as: UTF8.self).hasPrefix("HTTP/1.1 400"))
    }

    @Test func hostValuesAreChecked() {
        let valid = ["example.com", "example.com:4320", "127.0.0.1:80", "[::1]:4320", "", "a%20b", "xn--d1a.b"]
        let invalid = ["a b", "a:b", "[::1", "a/b", "a@b", "[zz]", "a:80:90", "%zz"]
        for host in valid { #expect(HTTPSyntax.isValidHost(Array(host.utf8)[...]), "\(host)") }
        for host in invalid { #expect(!HTTPSyntax.isValidHost(Array(host.utf8)[...]), "\(host)") }
    }

    @Test func everyMemberOfAMultiMemberGzipBodyIsInflated() throws {
        let body = Gzip.deflate(Array("first ".utf8)) + Gzip.deflate(Array("second".utf8))
        #expect(try Gzip.inflate(body, limit: 1000).get() == Array("first second".utf8))
        #expect((try? Gzip.inflate(body + [1, 2, 3], limit: 1000).get()) == nil, "trailing garbage is corrupt")
    }

    @Test func theHalfOpenQueueHandsOutTheOldestLiveEntryAndStaysSmall() {
        var queue = HalfOpenQueue()
        for i in 0..<10 { queue.append(slot: UInt32(i), token: UInt64(i)) }
        #expect(queue.popOldest { $0.slot >= 3 }?.slot == 3, "stale entries are skipped")
        var live = Set(4..<10)
        for i in 10..<100_000 {
            queue.append(slot: UInt32(i), token: UInt64(i))
            live.insert(i)
            live.remove(i - 6)
            queue.compact(live: live.count) { live.contains(Int($0.slot)) }
        }
        #expect(queue.count <= 4096 + 1, "stale entries do not pile up: \(queue.count)")
        #expect(queue.popOldest { live.contains(Int($0.slot)) }.map { Int($0.slot) } == live.min())
    }

    @Test func theRegistrationLimiterForgetsIdleSources() {
        let limiter = RegistrationLimiter(rate: 10, burst: 20)
        for source in 0..<1000 {
            #expect(limiter.admit(source: UInt64(source), connection: UInt64(source), now: 0))
            limiter.forget(connection: UInt64(source))
        }
        #expect(limiter.trackedBuckets == 1000)
        #expect(limiter.admit(source: 5000, connection: 2, now: 120_000))
        #expect(limiter.trackedBuckets <= 2, "refilled buckets are dropped: \(limiter.trackedBuckets)")
    }
}
