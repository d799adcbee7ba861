import Core
import Foundation
import Testing

@testable import GatewayCore

/// The server's frames in `out` (unmasked, as a server sends them): opcode and payload.
func serverFrames(_ out: [UInt8]) -> [(opcode: UInt8, payload: [UInt8])] {
    var frames: [(UInt8, [UInt8])] = []
    var i = 0
    while i + 2 <= out.count {
        var length = Int(out[i + 1] & 0x7F)
        var start = i + 2
        if length == 126 {
            length = Int(out[i + 2]) << 8 | Int(out[i + 3])
            start = i + 4
        } else if length == 127 {
            length = (0..<8).reduce(0) { $0 << 8 | Int(out[i + 2 + $1]) }
            start = i + 10
        }
        guard start + length <= out.count else { break }
        frames.append((out[i] & 0x0F, Array(out[start..<start + length])))
        i = start + length
    }
    return frames
}

/// The OpAMP messages among the server's frames.
func serverMessages(_ out: [UInt8]) -> [ServerToAgent] {
    serverFrames(out).filter { $0.opcode == 0x2 }.compactMap {
        try? ServerToAgent(serializedBytes: Array($0.payload.dropFirst()))
    }
}

/// The close code of the first Close frame in `out`.
func closeCode(_ out: [UInt8]) -> UInt16? {
    guard let close = serverFrames(out).first(where: { $0.opcode == 0x8 }), close.payload.count >= 2 else { return nil }
    return UInt16(close.payload[0]) << 8 | UInt16(close.payload[1])
}

/// A masked client frame with key 0 (the payload travels as is).
func clientFrame(opcode: UInt8, _ payload: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
    let count = declaredLength ?? payload.count
    var frame: [UInt8] = [0x80 | opcode]
    if count < 126 {
        frame.append(0x80 | UInt8(count))
    } else if count <= 0xFFFF {
        frame += [0x80 | 126, UInt8(count >> 8), UInt8(count & 0xFF)]
    } else {
        frame.append(0x80 | 127)
        frame += (0..<8).reversed().map { UInt8((count >> ($0 * 8)) & 0xFF) }
    }
    return frame + [0, 0, 0, 0] + payload
}

/// The connection machine alone: no socket, no thread, time from a `ManualClock`. Each test
/// feeds events and checks the bytes and the action that come out.
@Suite struct ConnectionMachineTests {
    static let upgradeRequest =
        "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    static func text(_ out: [UInt8]) -> String { String(decoding: out, as: UTF8.self) }

    @Test func anAcceptedConnectionIsCountedUntilItCloses() {
        let rig = ConnectionRig()
        #expect(rig.ctx.counters.accepted == 1)
        #expect(rig.ctx.activeConnections == 1)
        #expect(rig.ctx.handshaking == 1)
        #expect(rig.connection.isHalfOpen)
        #expect(rig.handle(.closed).action == .none)
        #expect(rig.ctx.counters.closed == 1)
        #expect(rig.ctx.activeConnections == 0)
        #expect(rig.ctx.handshaking == 0)
    }

    @Test func theUpgradeMovesTheConnectionToWebSocket() {
        let rig = ConnectionRig()
        let r = rig.send(Self.upgradeRequest)
        #expect(r.action == .none)
        #expect(Self.text(r.out).hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(Self.text(r.out).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        #expect(rig.connection.isWebSocket)
        #expect(!rig.connection.isHalfOpen)
        #expect(rig.ctx.handshaking == 0)
        #expect(rig.connection.deadline(rig.ctx) == rig.ctx.now + GatewayConfiguration().idleTimeoutMilliseconds + 1)
    }

    @Test func framesInTheSameReadAsTheUpgradeAreRead() {
        let rig = ConnectionRig()
        let first = [0] + agentMessage(testUID(1)).serializedBytes()
        let r = rig.send(Array(Self.upgradeRequest.utf8) + clientFrame(opcode: 0x2, first))
        let head = r.out.firstRange(of: Array("\r\n\r\n".utf8))
        let frames = head.map { Array(r.out[$0.upperBound...]) } ?? []
        #expect(serverMessages(frames).first?.instanceUid == testUID(1).bytes)
    }

    @Test func aWebSocketAgentIsAnsweredAndRecorded() {
        let rig = ConnectionRig()
        rig.upgrade()
        let reply = rig.opamp(agentMessage(testUID(1)))
        #expect(reply?.instanceUid == testUID(1).bytes)
        #expect(rig.directory.records.contains { $0.instanceUID == testUID(1) })
        #expect(rig.opamp(agentMessage(testUID(1), seq: 1))?.errorResponse == nil)
        #expect(rig.ctx.counters.messagesIn == 2)
    }

    @Test func aPlainHTTPPollIsAnsweredAndTheConnectionKeptAlive() {
        let rig = ConnectionRig()
        let reply = rig.post(agentMessage(testUID(1)))
        #expect(reply?.instanceUid == testUID(1).bytes)
        #expect(rig.ctx.handshaking == 0, "an answered poller no longer counts as half-open")
        #expect(rig.post(agentMessage(testUID(1), seq: 1)) != nil, "the same connection polls again")
        #expect(rig.ctx.httpSessions.count == 1)
    }

    @Test func anUnknownPathIsNotFoundAndKeepAliveStays() {
        let rig = ConnectionRig()
        let r = rig.send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(Self.text(r.out).hasPrefix("HTTP/1.1 404"))
        #expect(r.action == .none)
        let closing = rig.send("GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        #expect(closing.action == .finish)
    }

    @Test func overloadRefusesTheUpgradeWith503AndRetryAfter() {
        var configuration = GatewayConfiguration()
        configuration.maxConnectionsPerLoop = 0
        let rig = ConnectionRig(configuration)
        let r = rig.send(Self.upgradeRequest)
        #expect(Self.text(r.out).hasPrefix("HTTP/1.1 503"))
        #expect(Self.text(r.out).contains("Retry-After: 30\r\n"))
        #expect(r.action == .finish)
        #expect(rig.ctx.counters.overloadRejections == 1)
    }

    @Test func overloadAnswersAConnectedAgentWithUnavailable() {
        var configuration = GatewayConfiguration()
        configuration.maxConnectionsPerLoop = 1
        let rig = ConnectionRig(configuration)
        rig.upgrade()
        _ = ConnectionRig(sharing: rig, token: 8)  // the loop is now over its bound
        let reply = rig.opamp(agentMessage(testUID(1)))
        #expect(reply?.errorResponse?.type == .unavailable)
        #expect(!rig.directory.records.contains { $0.instanceUID == testUID(1) }, "a refused agent takes no room")
    }

    @Test func anIdleWebSocketAgentGets1001AfterTheIdleTimeout() {
        var configuration = GatewayConfiguration()
        configuration.idleTimeoutMilliseconds = 1_000
        let rig = ConnectionRig(configuration)
        rig.upgrade()
        #expect(rig.tick(at: 1_000).action == .none)
        let late = rig.tick(at: 1_001)
        #expect(late.action == .finish)
        #expect(closeCode(late.out) == 1001)
        #expect(rig.ctx.counters.timeouts == 1)
        #expect(rig.connection.deadline(rig.ctx) == nil, "a closing connection is looked at every pass")
    }

    @Test func anIncompleteHeadGets408AfterTheHeaderTimeout() {
        let rig = ConnectionRig()
        rig.send("GET /v1/opamp HTTP/1.1\r\nHost: t\r\n")
        #expect(rig.tick(at: 10_000).action == .none)
        let late = rig.tick(at: 10_001)
        #expect(Self.text(late.out).hasPrefix("HTTP/1.1 408"))
        #expect(late.action == .finish)
    }

    @Test func aWebSocketMessageOverTheLimitCloses1009() {
        var configuration = GatewayConfiguration()
        configuration.maxMessageSize = 1024
        let rig = ConnectionRig(configuration)
        rig.upgrade()
        let r = rig.send(clientFrame(opcode: 0x2, [0, 1, 2], declaredLength: 2048))
        #expect(closeCode(r.out) == 1009)
        #expect(r.action == .finish)
        #expect(rig.ctx.counters.protocolErrors == 1)
    }

    @Test func aPlainHTTPBodyOverTheLimitIs413() {
        var configuration = GatewayConfiguration()
        configuration.httpLimits.maxBodyBytes = 1024
        let rig = ConnectionRig(configuration)
        let r = rig.send(
            "POST /v1/opamp HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2048\r\n\r\n"
        )
        #expect(Self.text(r.out).hasPrefix("HTTP/1.1 413"))
        #expect(r.action == .finish)
    }

    @Test func textFramesAreRefusedWith1003AndPingsAnswered() {
        let rig = ConnectionRig()
        rig.upgrade()
        let pong = rig.send(clientFrame(opcode: 0x9, [1, 2, 3]))
        #expect(serverFrames(pong.out).map(\.opcode) == [0xA])
        #expect(serverFrames(pong.out).first?.payload == [1, 2, 3])
        let text = rig.send(clientFrame(opcode: 0x1, Array("hi".utf8)))
        #expect(closeCode(text.out) == 1003)
        #expect(text.action == .finish)
    }

    @Test func theNewerConnectionOfADuplicatedUIDIsGivenANewOne() {
        let first = ConnectionRig()
        first.upgrade()
        #expect(first.opamp(agentMessage(testUID(1))) != nil)
        let second = ConnectionRig(sharing: first, token: 8)
        second.upgrade()
        let payload = [0] + agentMessage(testUID(1)).serializedBytes()
        let replies = serverMessages(second.send(clientFrame(opcode: 0x2, payload)).out)
        #expect(replies.count == 2)
        let newUID = replies.last?.agentIdentification?.newInstanceUid ?? []
        #expect(newUID.count == 16 && newUID != testUID(1).bytes)
        #expect(second.directory.records.contains { $0.resolvedDuplicate })
        // The duplicate does not speak for the original: its close records no disconnect.
        second.handle(.closed)
        #expect(!first.directory.records.contains { $0.instanceUID == testUID(1) && $0.disconnected })
    }

    @Test func aClosedConnectionFreesItsUIDForTheAgentsNextConnection() {
        let first = ConnectionRig()
        first.upgrade()
        _ = first.opamp(agentMessage(testUID(1)))
        first.handle(.closed)
        #expect(first.directory.records.contains { $0.instanceUID == testUID(1) && $0.disconnected })
        let again = ConnectionRig(sharing: first, token: 8)
        again.upgrade()
        let payload = [0] + agentMessage(testUID(1), seq: 1).serializedBytes()
        #expect(serverMessages(again.send(clientFrame(opcode: 0x2, payload)).out).count == 1, "no duplicate")
    }

    @Test func aPushOffersTheDesiredConfigToItsAgentOnly() {
        let rig = ConnectionRig()
        rig.upgrade()
        var hello = agentMessage(testUID(1))
        hello.capabilities |= AgentCapabilities.acceptsRemoteConfig.rawValue
        #expect(rig.opamp(hello)?.remoteConfig == nil)
        var config = AgentRemoteConfig()
        config.configHash = [0xC0, 0xFF, 0xEE]
        rig.directory.setDesired(DesiredState(remoteConfig: SharedRemoteConfig(config)))
        #expect(rig.handle(.push(only: testUID(2))).out.isEmpty, "a push for another uid")
        let pushed = rig.handle(.push(only: nil))
        #expect(pushed.action == .none)
        #expect(serverMessages(pushed.out).first?.remoteConfig?.configHash == [0xC0, 0xFF, 0xEE])
        #expect(rig.ctx.counters.pushes == 1)
        #expect(rig.handle(.push(only: testUID(1))).out.isEmpty, "the agent already has it")
    }

    @Test func shutdownClosesWebSocketAgentsWith1001ThenDrains() {
        let rig = ConnectionRig()
        rig.upgrade()
        _ = rig.opamp(agentMessage(testUID(1)))
        let bye = rig.handle(.shutdown)
        #expect(closeCode(bye.out) == 1001)
        #expect(bye.action == .finish)
        #expect(rig.send(clientFrame(opcode: 0x9, [1])).out.isEmpty, "nothing is sent after our Close")
        #expect(rig.handle(.push(only: nil)).out.isEmpty)
        #expect(rig.handle(.flushed).action == .shutdownWrite)
        #expect(rig.handle(.flushed).action == .none, "the write side is shut once")
        #expect(rig.tick(at: ConnectionMachine.drainMilliseconds).action == .none)
        #expect(rig.tick(at: ConnectionMachine.drainMilliseconds + 1).action == .close, "a peer that never closes")
        rig.handle(.closed)
        #expect(rig.directory.records.contains { $0.instanceUID == testUID(1) && $0.disconnected })
        #expect(rig.ctx.activeConnections == 0)
    }

    @Test func shutdownReleasesAnHTTPConnectionAtOnce() {
        let rig = ConnectionRig()
        #expect(rig.handle(.shutdown).action == .close)
    }

    @Test func aPeerThatDoesNotReadOurLastBytesIsReleasedAfterTheDrainLimit() {
        let rig = ConnectionRig()
        #expect(rig.send("GET /v1/opamp HTTP/1.0\r\nHost: t\r\n\r\n").action == .finish)
        #expect(rig.tick(at: ConnectionMachine.drainMilliseconds).action == .none)
        #expect(rig.tick(at: ConnectionMachine.drainMilliseconds + 1).action == .close)
    }

    @Test func aStoppingServerHalvesTheDrainLimit() {
        let rig = ConnectionRig()
        rig.upgrade()
        rig.ctx.stopping = true
        #expect(rig.handle(.shutdown).action == .finish)
        #expect(rig.tick(at: ConnectionMachine.drainMilliseconds / 2 + 1).action == .close)
    }

    @Test func shedClosesAHalfOpenConnectionAndCountsIt() {
        let rig = ConnectionRig()
        #expect(rig.handle(.shed).action == .close)
        #expect(rig.ctx.counters.halfOpenShed == 1)
        #expect(rig.ctx.handshaking == 0)
        rig.handle(.closed)
        #expect(rig.ctx.handshaking == 0, "closing does not uncount it twice")
    }

    /// With enrollment required, no OpAMP happens before a valid token: 401 and close.
    @Test func withoutAValidEnrollmentTokenTheUpgradeIs401() {
        var configuration = GatewayConfiguration()
        configuration.requireEnrollment = true
        let rig = ConnectionRig(configuration)
        let r = rig.send(
            Self.upgradeRequest.replacingOccurrences(
                of: "Host: t\r\n", with: "Host: t\r\nAuthorization: Bearer nope\r\n"))
        #expect(Self.text(r.out).hasPrefix("HTTP/1.1 401"))
        #expect(Self.text(r.out).contains("WWW-Authenticate: Bearer\r\n"))
        #expect(r.action == .finish)
        #expect(!rig.connection.isWebSocket)
        #expect(rig.ctx.counters.enrollmentRefused == 1)
    }

    /// Operators' commands: a reconcile offers the config again although it was offered; a
    /// full-state request sets the flag; a restart needs the capability; disconnect closes 1000.
    @Test func commandsReachTheirAgentOnly() {
        let rig = ConnectionRig()
        rig.upgrade()
        var hello = agentMessage(testUID(1))
        hello.capabilities |= AgentCapabilities.acceptsRemoteConfig.rawValue
        _ = rig.opamp(hello)
        var config = AgentRemoteConfig()
        config.configHash = [0xC0, 0xFF, 0xEE]
        rig.directory.setDesired(DesiredState(remoteConfig: SharedRemoteConfig(config)))
        #expect(serverMessages(rig.handle(.push(only: nil)).out).first?.remoteConfig != nil)
        #expect(rig.handle(.push(only: nil)).out.isEmpty, "offered once")
        #expect(rig.handle(.command(testUID(2), .reconcile)).out.isEmpty, "another agent")
        let again = serverMessages(rig.handle(.command(testUID(1), .reconcile)).out)
        #expect(again.first?.remoteConfig?.configHash == [0xC0, 0xFF, 0xEE])
        let full = serverMessages(rig.handle(.command(testUID(1), .reportFullState)).out)
        #expect(full.first?.flags == ServerToAgentFlags.reportFullState.rawValue)
        #expect(rig.handle(.command(testUID(1), .restart)).out.isEmpty, "no AcceptsRestartCommand")
        #expect(rig.ctx.counters.commands == 2)
        let bye = rig.handle(.command(testUID(1), .disconnect))
        #expect(closeCode(bye.out) == 1000 && bye.action == .finish)
    }

    /// A plain-HTTP agent has no connection to post to: its commands wait for its next poll,
    /// all in that one reply but for a second custom message, which waits for the poll after.
    @Test func commandsWaitForAPlainHTTPAgentsNextPoll() {
        let rig = ConnectionRig()
        // Every message names the agent's capabilities; the first also its custom ones.
        func poll(_ seq: UInt64) -> AgentToServer {
            var message = agentMessage(testUID(1), seq: seq)
            message.capabilities |= AgentCapabilities.acceptsRestartCommand.rawValue
            return message
        }
        var hello = poll(0)
        var custom = CustomCapabilities()
        custom.capabilities = ["io.example.a"]
        hello.customCapabilities = custom
        #expect(rig.post(hello) != nil)
        let store = rig.ctx.httpSessions
        #expect(!store.queue(.restart, for: testUID(2)), "no session of that agent")
        var message = CustomMessage()
        message.capability = "io.example.a"
        message.type = "first"
        var second = message
        second.type = "second"
        for command in [AgentCommand.restart, .reportFullState, .custom(message), .custom(second)] {
            #expect(store.queue(command, for: testUID(1)))
        }
        let reply = rig.post(poll(1))
        #expect(reply?.command?.type == .restart)
        #expect(reply?.flags == ServerToAgentFlags.reportFullState.rawValue)
        #expect(reply?.customMessage?.type == "first")
        #expect(rig.post(poll(2))?.customMessage?.type == "second")
        #expect(rig.post(poll(3))?.customMessage == nil)
        #expect(rig.ctx.counters.commands == 4)
        for _ in 0..<HTTPSessionStore.maxQueuedCommands { #expect(store.queue(.reportFullState, for: testUID(1))) }
        #expect(!store.queue(.reportFullState, for: testUID(1)), "a full queue refuses")
    }

    /// An operator's revocation reaches the agent's connection: 1008, then the usual drain.
    @Test func aRevokedAgentIsClosedWith1008() {
        let rig = ConnectionRig()
        rig.upgrade()
        _ = rig.opamp(agentMessage(testUID(1)))
        #expect(rig.handle(.disconnect(testUID(2))).out.isEmpty, "another agent's revocation")
        let bye = rig.handle(.disconnect(testUID(1)))
        #expect(closeCode(bye.out) == 1008)
        #expect(bye.action == .finish)
        #expect(rig.ctx.counters.revokedDisconnects == 1)
        #expect(rig.handle(.disconnect(testUID(1))).out.isEmpty, "closed once")
    }

    /// T4: a revoked agent's messages are refused before anything reads them (its CSR is never
    /// looked at), over WebSocket and plain HTTP alike; the connection that spoke for it before
    /// is closed by the revocation; readmitted, it is served again.
    @Test func aRevokedAgentIsRefusedWhateverItPresents() {
        var configuration = GatewayConfiguration()
        configuration.serverCapabilities.insert(.acceptsConnectionSettingsRequest)
        let before = ConnectionRig(configuration)
        before.upgrade()
        #expect(before.opamp(agentMessage(testUID(1)))?.errorResponse == nil)
        before.directory.setRevoked(testUID(1), true)
        #expect(closeCode(before.handle(.disconnect(testUID(1))).out) == 1008)
        before.handle(.closed)
        let rig = ConnectionRig(sharing: before, token: 10)
        rig.upgrade()
        var csr = agentMessage(testUID(1), seq: 1)
        csr.capabilities |= AgentCapabilities.acceptsOpAMPConnectionSettings.rawValue
        var request = ConnectionSettingsRequest()
        request.opamp = OpAMPConnectionSettingsRequest()
        request.opamp?.certificateRequest = CertificateRequest()
        request.opamp?.certificateRequest?.csr = Array("csr".utf8)
        csr.connectionSettingsRequest = request
        let refused = rig.opamp(csr)
        #expect(refused?.errorResponse?.type == .badRequest)
        #expect(refused?.errorResponse?.errorMessage == "this agent was revoked by an operator")
        #expect(rig.directory.certificateRequests.isEmpty, "the CSR is never read")
        #expect(refused?.connectionSettings == nil)
        let recorded = rig.directory.records.count
        let fresh = ConnectionRig(sharing: rig, token: 8)
        fresh.upgrade()
        #expect(fresh.opamp(agentMessage(testUID(1)))?.errorResponse?.type == .badRequest, "a new connection too")
        #expect(fresh.opamp(agentMessage(testUID(2)))?.errorResponse == nil, "another agent is served")
        let poller = ConnectionRig(sharing: rig, token: 9)
        #expect(poller.post(agentMessage(testUID(1), seq: 2))?.errorResponse?.type == .badRequest, "plain HTTP too")
        #expect(rig.directory.records.count == recorded + 1, "only the other agent's status was recorded")
        #expect(rig.ctx.counters.rejectedRevoked == 3)
        rig.directory.setRevoked(testUID(1), false)
        #expect(rig.opamp(agentMessage(testUID(1), seq: 3))?.errorResponse == nil, "readmitted")
        rig.directory.setRevoked(testUID(1), true)
        #expect(rig.opamp(agentMessage(testUID(1), seq: 4))?.errorResponse == nil, "checked once per connection")
    }

    /// An instance cut off from its database lets its agents go: 1001, so each reconnects elsewhere.
    @Test func aReleasedAgentIsClosedWith1001() {
        let rig = ConnectionRig()
        rig.upgrade()
        _ = rig.opamp(agentMessage(testUID(1)))
        #expect(rig.handle(.release(testUID(2))).out.isEmpty, "another agent")
        let bye = rig.handle(.release(testUID(1)))
        #expect(closeCode(bye.out) == 1001)
        #expect(bye.action == .finish)
        #expect(rig.ctx.counters.released == 1)
        #expect(rig.handle(.release(testUID(1))).out.isEmpty, "closed once")
    }

    /// S17: a CSR is signed before the reply is made (which then offers the certificate), or
    /// refused with BAD_REQUEST; only when this server says it accepts such requests, and only
    /// from an agent that accepts OpAMP connection settings.
    @Test func aCertificateRequestIsAnsweredInTheSameExchange() {
        func request(_ uid: InstanceUID, _ csr: String, seq: UInt64, accepts: Bool = true) -> AgentToServer {
            var m = agentMessage(uid, seq: seq)
            if accepts { m.capabilities |= AgentCapabilities.acceptsOpAMPConnectionSettings.rawValue }
            var certificate = CertificateRequest()
            certificate.csr = Array(csr.utf8)
            var opamp = OpAMPConnectionSettingsRequest()
            opamp.certificateRequest = certificate
            var settings = ConnectionSettingsRequest()
            settings.opamp = opamp
            m.connectionSettingsRequest = settings
            return m
        }
        let silent = ConnectionRig()
        silent.upgrade()
        _ = silent.opamp(request(testUID(1), "csr", seq: 0))
        #expect(silent.directory.certificateRequests.isEmpty, "a server without a CA does not look at CSRs")

        var configuration = GatewayConfiguration()
        configuration.serverCapabilities.insert(.acceptsConnectionSettingsRequest)
        let rig = ConnectionRig(configuration)
        rig.upgrade()
        let refused = rig.opamp(request(testUID(1), "bad", seq: 0))
        #expect(refused?.errorResponse?.type == .badRequest)
        #expect(refused?.errorResponse?.errorMessage == "refused: bad")
        let unable = rig.opamp(request(testUID(1), "csr", seq: 1, accepts: false))
        #expect(unable?.errorResponse?.errorMessage.contains("AcceptsOpAMPConnectionSettings") == true)
        #expect(rig.directory.certificateRequests.count == 1)
        let signed = rig.opamp(request(testUID(1), "csr", seq: 2))
        #expect(signed?.errorResponse == nil)
        #expect(signed?.connectionSettings?.opamp?.certificate?.cert == Array("csr".utf8))
        #expect(rig.ctx.counters.certificatesIssued == 1)
        #expect(rig.ctx.counters.certificateRequestsRefused == 2)
    }

    @Test func enrollmentTokensAreKnownByTheirSHA256() {
        #expect(EnrollmentToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
