import Testing

@testable import Core

/// Deterministic uids for tests.
struct CountingUIDs: InstanceUIDGenerator {
    var n: UInt64 = 0
    mutating func next() -> InstanceUID {
        n += 1
        return InstanceUID(high: 0x0190_0000_0000_7000, low: 0x8000_0000_0000_0000 | n)
    }
}

/// Drives an `AgentSession` with owned messages, the way the gateway drives it with views.
struct Harness {
    var session: AgentSession
    var uids = CountingUIDs()
    var desired = DesiredState()

    init(_ session: AgentSession = AgentSession()) {
        self.session = session
    }

    mutating func send(_ m: AgentToServer) -> (reply: SessionReply, changes: StatusChanges, wire: ServerToAgent) {
        let bytes = m.serializedBytes()
        let (reply, changes) = try! AgentToServerView.decode(bytes.span.bytes) { view in
            session.receive(view, desired: desired, uids: &uids)
        }
        // Every reply must be a valid ServerToAgent on the wire.
        let wire = try! ServerToAgent(serializedBytes: reply.serializedBytes())
        #expect(reply.encodedSize == reply.serializedBytes().count)
        return (reply, changes, wire)
    }
}

let uidA: [UInt8] = Array(0..<16)
let basicCaps: AgentCapabilities = [
    .reportsStatus, .acceptsRemoteConfig, .reportsEffectiveConfig, .reportsRemoteConfig, .reportsHealth,
]

func message(seq: UInt64, caps: AgentCapabilities = basicCaps, full: Bool = false, uid: [UInt8] = uidA) -> AgentToServer
{
    var m = AgentToServer()
    m.instanceUid = uid
    m.sequenceNum = seq
    m.capabilities = caps.rawValue
    if full {
        var d = AgentDescription()
        var kv = KeyValue()
        kv.key = "service.name"
        var v = AnyValue()
        v.value = .stringValue("otelcol")
        kv.value = v
        d.identifyingAttributes = [kv]
        m.agentDescription = d
        var h = ComponentHealth()
        h.healthy = true
        m.health = h
        var e = EffectiveConfig()
        var map = AgentConfigMap()
        var file = AgentConfigFile()
        file.body = Array("receivers: {}".utf8)
        map.configMap[""] = file
        e.configMap = map
        m.effectiveConfig = e
        m.remoteConfigStatus = RemoteConfigStatus()
    }
    return m
}

func config(_ body: String) -> SharedRemoteConfig {
    var c = AgentRemoteConfig()
    var map = AgentConfigMap()
    var file = AgentConfigFile()
    file.body = Array(body.utf8)
    file.contentType = "text/yaml"
    map.configMap["collector.yaml"] = file
    c.config = map
    c.configHash = Array(Fingerprint.of(Array(body.utf8)).description.utf8)
    return SharedRemoteConfig(c)
}

@Suite struct SessionTests {
    @Test func s1s3s4FirstReplyHasCapabilitiesAndEchoesUID() {
        var h = Harness()
        let first = h.send(message(seq: 0, full: true)).wire
        #expect(first.instanceUid == uidA)
        #expect(first.capabilities == ServerCapabilities.ampora.rawValue)
        #expect(first.capabilities & 1 == 1)
        #expect(first.capabilities & ~ServerCapabilities.defined.rawValue == 0)
        let second = h.send(message(seq: 1)).wire
        #expect(second.instanceUid == uidA)
        #expect(second.capabilities == 0)
    }

    @Test func s4UndefinedServerBitsAreNeverSent() {
        var h = Harness(AgentSession(serverCapabilities: ServerCapabilities(rawValue: 0xFFFF_0000)))
        let wire = h.send(message(seq: 0, full: true)).wire
        #expect(wire.capabilities == ServerCapabilities.acceptsStatus.rawValue)
    }

    @Test func s8GapAsksForFullStateOnceAndResyncs() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        _ = h.send(message(seq: 1))
        let gap = h.send(message(seq: 5))
        #expect(gap.wire.flags & ServerToAgentFlags.reportFullState.rawValue != 0)
        #expect(gap.changes.sequenceGap)
        // The agent answers with whatever number it likes: no second request.
        let answer = h.send(message(seq: 9, full: true))
        #expect(answer.wire.flags == 0)
        #expect(h.send(message(seq: 10)).wire.flags == 0)
    }

    @Test func s8PythonClientSequenceDoesNotPingPong() {
        // opentelemetry-opamp-client sends 0,1,1,2,3,5 (repeat and skip).
        var h = Harness()
        var requests = 0
        for (i, seq) in [0, 1, 1, 2, 3, 5, 6, 7].enumerated() {
            let r = h.send(message(seq: UInt64(seq), full: i == 0 || requests > 0))
            if r.wire.flags & 1 != 0 { requests += 1 }
        }
        #expect(requests == 1)
    }

    @Test func s8GapWithFullStateInTheSameMessageNeedsNoRequest() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        #expect(h.send(message(seq: 7, full: true)).wire.flags == 0)
    }

    @Test func s2FirstSightOfACompressedAgentAsksForFullState() {
        // After a server restart the agent resumes with a compressed heartbeat.
        var h = Harness()
        let r = h.send(message(seq: 41))
        #expect(r.wire.flags & ServerToAgentFlags.reportFullState.rawValue != 0)
        // A new agent reporting everything is not asked again.
        var fresh = Harness()
        #expect(fresh.send(message(seq: 0, full: true)).wire.flags == 0)
        // A reconnect to a server that holds the state is not asked either.
        var known = Harness(AgentSession(held: StatusParts.required(by: basicCaps)))
        #expect(known.send(message(seq: 12)).wire.flags == 0)
    }

    @Test func s7StatusCompressionKeepsLastValueAndCopiesOnlyChanges() {
        var h = Harness()
        let first = h.send(message(seq: 0, full: true)).changes
        #expect(first.agentDescription != nil)
        #expect(first.health?.healthy == true)
        // Same content again: nothing to persist.
        let same = h.send(message(seq: 1, full: true)).changes
        #expect(same.agentDescription == nil && same.health == nil && same.effectiveConfig == nil)
        // Omitted parts keep their value: a heartbeat changes nothing.
        let beat = h.send(message(seq: 2)).changes
        #expect(beat.isHeartbeatOnly)
        #expect(h.session.held.contains(.health))
        var m = message(seq: 3)
        var sick = ComponentHealth()
        sick.healthy = false
        sick.lastError = "exporter down"
        m.health = sick
        #expect(h.send(m).changes.health?.lastError == "exporter down")
    }

    @Test func s10RequestInstanceUidGetsAUUIDv7AndTheOldUIDEchoed() {
        var h = Harness()
        var m = message(seq: 0, full: true)
        m.flags = AgentToServerFlags.requestInstanceUid.rawValue
        let r = h.send(m)
        #expect(r.wire.instanceUid == uidA)
        let new = r.wire.agentIdentification?.newInstanceUid ?? []
        #expect(new.count == 16)
        #expect(new != uidA)
        #expect(r.changes.assignedInstanceUID != nil)
        var g = SeededGenerator(seed: 1)
        let real = InstanceUID.v7(unixMilliseconds: 1_700_000_000_000, using: &g)
        #expect(real.high >> 16 == 1_700_000_000_000)
        #expect(real.bytes[6] >> 4 == 7)
        #expect(real.bytes[8] >> 6 == 2)
    }

    @Test func s10BadUIDLengthIsABadRequest() {
        var h = Harness()
        let r = h.send(message(seq: 0, full: true, uid: [1, 2, 3]))
        #expect(r.wire.errorResponse?.type == .badRequest)
        #expect(r.wire.instanceUid == [1, 2, 3])
    }

    @Test func s5MalformedMessageGetsBadRequestAndNothingElse() {
        var h = Harness()
        let error = ProtoDecodeError(.truncated, offset: 3)
        let reply = h.session.malformed(error)
        let wire = try! ServerToAgent(serializedBytes: reply.serializedBytes())
        #expect(wire.errorResponse?.type == .badRequest)
        #expect(wire.errorResponse?.errorMessage.contains("truncated") == true)
        #expect(wire.remoteConfig == nil && wire.capabilities == 0 && wire.flags == 0)
    }

    @Test func s6OverloadIsUnavailableWithRetryInfo() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        let wire = try! ServerToAgent(
            serializedBytes: h.session.overloaded(retryAfterNanoseconds: 30_000_000_000).serializedBytes())
        #expect(wire.errorResponse?.type == .unavailable)
        #expect(wire.errorResponse?.details == .retryInfo(RetryInfo.with30s))
        #expect(wire.instanceUid == uidA)
        #expect(wire.capabilities == 0)
    }

    @Test func s12RemoteConfigOfferedWhenHashDiffersAndNotRepeated() {
        var h = Harness()
        h.desired.remoteConfig = config("receivers: {otlp: {}}")
        let first = h.send(message(seq: 0, full: true)).wire
        #expect(first.remoteConfig?.configHash == h.desired.remoteConfig!.hash)
        // Heartbeats while the agent applies it: not resent.
        #expect(h.send(message(seq: 1)).wire.remoteConfig == nil)
        // The agent reports a different (old) hash again: MUST resend.
        var m = message(seq: 2)
        var status = RemoteConfigStatus()
        status.lastRemoteConfigHash = [9, 9]
        status.status = .failed
        m.remoteConfigStatus = status
        #expect(h.send(m).wire.remoteConfig != nil)
        // The agent reports the desired hash: no offer.
        var ok = message(seq: 3)
        status.lastRemoteConfigHash = h.desired.remoteConfig!.hash
        status.status = .applied
        ok.remoteConfigStatus = status
        let applied = h.send(ok)
        #expect(applied.wire.remoteConfig == nil)
        #expect(applied.changes.remoteConfigStatus?.status == .applied)
    }

    /// The Supervisor's rollback: FAILED for the offered config, then APPLIED for the one it went
    /// back to. The failed config is not sent again (it would fail again, in a loop) until another
    /// config is desired or an operator offers it again; the next desired config goes out.
    @Test func s12AConfigTheAgentFailedIsNotResentUntilTheDesiredOneChanges() {
        var h = Harness()
        h.desired.remoteConfig = config("receivers: {bad: {}}")
        let bad = h.desired.remoteConfig!
        #expect(h.send(message(seq: 0, full: true)).wire.remoteConfig?.configHash == bad.hash)
        func report(_ seq: UInt64, _ hash: [UInt8], _ status: RemoteConfigStatuses) -> ServerToAgent {
            var m = message(seq: seq)
            var s = RemoteConfigStatus()
            s.lastRemoteConfigHash = hash
            s.status = status
            m.remoteConfigStatus = s
            return h.send(m).wire
        }
        #expect(report(1, bad.hash, .failed).remoteConfig == nil)
        #expect(report(2, [7, 7], .applied).remoteConfig == nil, "the failed config was resent")
        #expect(h.session.push(h.desired) == nil)
        #expect(h.session.reoffer(h.desired)?.remoteConfig?.hash == bad.hash, "an operator's reoffer goes out")
        #expect(report(3, bad.hash, .failed).remoteConfig == nil)
        // What the fleet offers instead goes out; and the failed one again once it is desired anew.
        h.desired.remoteConfig = config("receivers: {good: {}}")
        let good = h.desired.remoteConfig!
        #expect(h.session.push(h.desired)?.remoteConfig?.hash == good.hash)
        #expect(report(4, good.hash, .applied).remoteConfig == nil)
        h.desired.remoteConfig = bad
        #expect(h.session.push(h.desired)?.remoteConfig?.hash == bad.hash)
    }

    /// A poll that lands on another server starts a fresh session there: seeded with the
    /// config the agent last reported running, it is not offered that config again, and it is
    /// offered a different one.
    @Test func s12ASeededSessionDoesNotOfferTheConfigTheAgentRuns() {
        let wanted = config("receivers: {otlp: {}}")
        let all: StatusParts = [.description, .health, .effectiveConfig, .remoteConfigStatus]
        var running = Harness()
        running.desired.remoteConfig = wanted
        running.session.restore(
            SessionSeed(held: all, runningConfig: Fingerprint.of(wanted.hash)))
        let poll = running.send(message(seq: 7))
        #expect(poll.wire.remoteConfig == nil)
        #expect(poll.wire.flags & 1 == 0, "the parts are held: no full report asked")

        var behind = Harness()
        behind.desired.remoteConfig = wanted
        let old: [UInt8] = [9, 9]
        behind.session.restore(SessionSeed(held: all, runningConfig: Fingerprint.of(old)))
        #expect(behind.send(message(seq: 7)).wire.remoteConfig?.configHash == wanted.hash)
    }

    @Test func s12RemoteConfigBytesAreSharedNotReencoded() {
        let shared = config("exporters: {debug: {}}")
        var a = Harness()
        var b = Harness()
        a.desired.remoteConfig = shared
        b.desired.remoteConfig = shared
        let ra = a.send(message(seq: 0, full: true)).reply
        let rb = b.send(message(seq: 0, full: true, uid: Array(repeating: 7, count: 16))).reply
        ra.remoteConfig!.encodedField.withUnsafeBufferPointer { pa in
            rb.remoteConfig!.encodedField.withUnsafeBufferPointer { pb in
                #expect(pa.baseAddress == pb.baseAddress)
            }
        }
    }

    @Test func s9NoRemoteConfigWithoutAcceptsRemoteConfig() {
        var h = Harness()
        h.desired.remoteConfig = config("a: 1")
        let r = h.send(message(seq: 0, caps: [.reportsStatus], full: true))
        #expect(r.wire.remoteConfig == nil)
        #expect(h.session.push(h.desired) == nil)
    }

    @Test func s12UnsolicitedPushAfterTheDesiredConfigChanges() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        #expect(h.session.push(h.desired) == nil)
        h.desired.remoteConfig = config("b: 2")
        let push = h.session.push(h.desired)
        #expect(push?.remoteConfig != nil)
        #expect(h.session.push(h.desired) == nil)
    }

    @Test func s13EffectiveConfigOnlyFromAgentsThatReportIt() {
        var h = Harness()
        let r = h.send(message(seq: 0, caps: [.reportsStatus], full: true))
        #expect(r.changes.effectiveConfig == nil)
        var g = Harness()
        #expect(g.send(message(seq: 0, full: true)).changes.effectiveConfig != nil)
    }

    @Test func s15ConnectionSettingsFilteredByCapabilities() {
        var offers = ConnectionSettingsOffers()
        offers.hash = [1, 2, 3]
        var opamp = OpAMPConnectionSettings()
        opamp.destinationEndpoint = "wss://opamp.example:4320/v1/opamp"
        opamp.heartbeatIntervalSeconds = 30
        offers.opamp = opamp
        var metrics = TelemetryConnectionSettings()
        metrics.destinationEndpoint = "https://otlp.example:4318"
        offers.ownMetrics = metrics
        offers.ownTraces = metrics
        var h = Harness()
        h.desired.connectionSettings = offers
        let caps: AgentCapabilities = [.reportsStatus, .reportsOwnMetrics, .acceptsOpAMPConnectionSettings]
        let wire = h.send(message(seq: 0, caps: caps, full: true)).wire
        #expect(wire.connectionSettings?.ownMetrics != nil)
        #expect(wire.connectionSettings?.ownTraces == nil)
        #expect(wire.connectionSettings?.opamp?.heartbeatIntervalSeconds == 0)
        #expect(wire.connectionSettings?.hash == [1, 2, 3])
        // Not resent on heartbeats; resent when the agent reports another hash.
        #expect(h.send(message(seq: 1, caps: caps)).wire.connectionSettings == nil)
        var m = message(seq: 2, caps: caps)
        var status = ConnectionSettingsStatus()
        status.lastConnectionSettingsHash = [0]
        m.connectionSettingsStatus = status
        #expect(h.send(m).wire.connectionSettings != nil)
        // An agent accepting none of them gets no offer.
        var none = Harness()
        none.desired.connectionSettings = offers
        #expect(none.send(message(seq: 0, caps: [.reportsStatus], full: true)).wire.connectionSettings == nil)
    }

    @Test func s18HeartbeatIntervalOnlyForAgentsReportingHeartbeats() {
        var offers = ConnectionSettingsOffers()
        offers.hash = [4]
        var opamp = OpAMPConnectionSettings()
        opamp.heartbeatIntervalSeconds = 15
        offers.opamp = opamp
        var h = Harness()
        h.desired.connectionSettings = offers
        let caps: AgentCapabilities = [.reportsStatus, .acceptsOpAMPConnectionSettings, .reportsHeartbeat]
        #expect(
            h.send(message(seq: 0, caps: caps, full: true)).wire.connectionSettings?.opamp?.heartbeatIntervalSeconds
                == 15)
    }

    @Test func s19PackagesOfferedWhenTheAgentsHashDiffers() {
        var available = PackagesAvailable()
        available.allPackagesHash = [0xAA]
        var pkg = PackageAvailable()
        pkg.version = "1.2.3"
        available.packages["otelcol-contrib"] = pkg
        var h = Harness()
        h.desired.packages = SharedPackages(available)
        let caps: AgentCapabilities = basicCaps.union([.acceptsPackages, .reportsPackageStatuses])
        var m = message(seq: 0, caps: caps, full: true)
        var statuses = PackageStatuses()
        statuses.serverProvidedAllPackagesHash = [0x01]
        m.packageStatuses = statuses
        #expect(h.send(m).wire.packagesAvailable?.allPackagesHash == [0xAA])
        var current = message(seq: 1, caps: caps)
        statuses.serverProvidedAllPackagesHash = [0xAA]
        current.packageStatuses = statuses
        #expect(h.send(current).wire.packagesAvailable == nil)
        var without = Harness()
        without.desired.packages = SharedPackages(available)
        #expect(without.send(message(seq: 0, full: true)).wire.packagesAvailable == nil)
    }

    @Test func s20RestartOnlyForAgentsThatAcceptIt() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        #expect(h.session.restart() == nil)
        var r = Harness()
        _ = r.send(message(seq: 0, caps: basicCaps.union(.acceptsRestartCommand), full: true))
        let wire = try! ServerToAgent(serializedBytes: r.session.restart()!.serializedBytes())
        #expect(wire.command?.type == .restart)
        #expect(wire.instanceUid == uidA)
        #expect(wire.remoteConfig == nil && wire.connectionSettings == nil && wire.packagesAvailable == nil)
    }

    @Test func s21UnknownComponentsHashAsksForTheFullListOnce() {
        var h = Harness()
        let caps = basicCaps.union(.reportsAvailableComponents)
        var m = message(seq: 0, caps: caps, full: true)
        var components = AvailableComponents()
        components.hash = [5, 5]
        m.availableComponents = components
        #expect(h.send(m).wire.flags & ServerToAgentFlags.reportAvailableComponents.rawValue != 0)
        m.sequenceNum = 1
        #expect(h.send(m).wire.flags & ServerToAgentFlags.reportAvailableComponents.rawValue == 0)
        var known = Harness()
        known.desired.knownComponentHashes = [Fingerprint.of([5, 5])]
        m.sequenceNum = 0
        #expect(known.send(m).wire.flags & ServerToAgentFlags.reportAvailableComponents.rawValue == 0)
    }

    @Test func s22CustomCapabilitiesAnnouncedOnChangeAndMessagesGated() {
        var h = Harness()
        h.desired.customCapabilities = ["io.ampora.echo"]
        var m = message(seq: 0, full: true)
        var caps = CustomCapabilities()
        caps.capabilities = ["com.example.ping"]
        m.customCapabilities = caps
        let first = h.send(m)
        #expect(first.wire.customCapabilities?.capabilities == ["io.ampora.echo"])
        #expect(first.changes.customCapabilities?.capabilities == ["com.example.ping"])
        #expect(h.send(message(seq: 1)).wire.customCapabilities == nil)
        var ping = CustomMessage()
        ping.capability = "com.example.ping"
        #expect(h.session.customMessage(ping) != nil)
        ping.capability = "com.example.unknown"
        #expect(h.session.customMessage(ping) == nil)
        var incoming = message(seq: 2)
        var echo = CustomMessage()
        echo.capability = "io.ampora.echo"
        incoming.customMessage = echo
        #expect(h.send(incoming).changes.customMessage?.capability == "io.ampora.echo")
        echo.capability = "not.announced"
        incoming.customMessage = echo
        incoming.sequenceNum = 3
        #expect(h.send(incoming).changes.customMessage == nil)
    }

    @Test func s23AgentDisconnectMarksOffline() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        var bye = message(seq: 1)
        bye.agentDisconnect = AgentDisconnect()
        let r = h.send(bye)
        #expect(r.changes.disconnected)
        #expect(r.wire.instanceUid == uidA)
        #expect(h.session.isDisconnected)
    }

    @Test func s26AnotherAgentsUIDOnAnEstablishedConnectionIsRefused() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        let other: [UInt8] = Array(100..<116)
        let r = h.send(message(seq: 1, full: true, uid: other))
        #expect(r.wire.errorResponse?.type == .badRequest)
        #expect(r.wire.instanceUid == other)
        #expect(r.changes.instanceUID == nil, "nothing of the foreign message is recorded")
        #expect(h.session.instanceUID == InstanceUID(bytes: uidA), "the connection still speaks for its agent")
        #expect(h.send(message(seq: 2)).wire.errorResponse == nil)
    }

    @Test func s26TheUIDTheServerAssignedIsAccepted() {
        var h = Harness()
        var m = message(seq: 0, full: true)
        m.flags = AgentToServerFlags.requestInstanceUid.rawValue
        let assigned = h.send(m).wire.agentIdentification?.newInstanceUid ?? []
        let r = h.send(message(seq: 1, full: true, uid: assigned))
        #expect(r.wire.errorResponse == nil)
        #expect(r.wire.instanceUid == assigned)
        let duplicate = h.session.reassignDuplicate(uids: &h.uids)!
        let fresh = try! ServerToAgent(serializedBytes: duplicate.serializedBytes()).agentIdentification!.newInstanceUid
        #expect(h.send(message(seq: 2, full: true, uid: fresh)).wire.errorResponse == nil)
    }

    @Test func s27MessagesAfterAgentDisconnectAreRefused() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        var bye = message(seq: 1)
        bye.agentDisconnect = AgentDisconnect()
        _ = h.send(bye)
        let after = h.send(message(seq: 2, full: true))
        #expect(after.wire.errorResponse?.type == .badRequest)
        #expect(after.wire.errorResponse?.errorMessage.contains("agent_disconnect") == true)
        #expect(!after.changes.connected && after.changes.agentDescription == nil)
    }

    /// Found writing the model of fuzz/Sources/FuzzSessionSequence: a message without a uid that asked for one
    /// was still answered (with a fresh uid) after agent_disconnect.
    @Test func s27AUIDRequestAfterAgentDisconnectIsRefused() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        var bye = message(seq: 1)
        bye.agentDisconnect = AgentDisconnect()
        _ = h.send(bye)
        var ask = message(seq: 2, full: true, uid: [])
        ask.flags = AgentToServerFlags.requestInstanceUid.rawValue
        let after = h.send(ask)
        #expect(after.wire.errorResponse?.type == .badRequest)
        #expect(after.wire.agentIdentification == nil)
        #expect(after.changes == StatusChanges())
    }

    @Test func s9LatestCapabilitiesAreHonoured() {
        var h = Harness()
        h.desired.remoteConfig = config("c: 3")
        _ = h.send(message(seq: 0, caps: [.reportsStatus], full: true))
        let upgraded = h.send(message(seq: 1, caps: basicCaps))
        #expect(upgraded.changes.capabilities == basicCaps)
        #expect(upgraded.wire.remoteConfig != nil)
    }

    @Test func s11DuplicateUIDGetsANewOne() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        let reply = h.session.reassignDuplicate(uids: &h.uids)!
        let wire = try! ServerToAgent(serializedBytes: reply.serializedBytes())
        #expect(wire.agentIdentification?.newInstanceUid.count == 16)
        #expect(wire.instanceUid == uidA)
    }

    @Test func heartbeatReplyIsSmall() {
        var h = Harness()
        _ = h.send(message(seq: 0, full: true))
        let r = h.send(message(seq: 1))
        #expect(r.changes.isHeartbeatOnly)
        #expect(r.reply.serializedBytes().count == 18)
    }

    @Test func instanceUIDText() {
        let uid = InstanceUID(bytes: uidA)!
        #expect(uid.description == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        #expect(InstanceUID(string: uid.description) == uid)
        #expect(InstanceUID(string: "00010203-0405-0607-0809-0a0b0c0d0e0") == nil)
    }
}

extension RetryInfo {
    static var with30s: RetryInfo {
        var r = RetryInfo()
        r.retryAfterNanoseconds = 30_000_000_000
        return r
    }
}

@Suite struct SessionFootprintTests {
    /// Per-message values are copied on every heartbeat; keep them register-sized.
    @Test func perMessageValuesStaySmall() {
        #expect(MemoryLayout<SessionReply>.size <= 128, "SessionReply is \(MemoryLayout<SessionReply>.size) bytes")
        #expect(MemoryLayout<StatusChanges>.size <= 144, "StatusChanges is \(MemoryLayout<StatusChanges>.size) bytes")
    }

    /// Held once per connected agent; the idle-agent budget is 1 KiB in all.
    @Test func sessionFitsTheIdleAgentBudget() {
        #expect(MemoryLayout<AgentSession>.size <= 320, "AgentSession is \(MemoryLayout<AgentSession>.size) bytes")
    }
}
