// Core's OpAMP codec against swift-protobuf 1.39.0, each pair on the same bytes in the same run.
// Every benchmark runs 1000 operations per measured iteration (scalingFactor .kilo), so the
// reported per-operation time and malloc count carry no per-iteration clock overhead.

import Benchmark
import Core
import OpAMPPeer
import SwiftProtobuf

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// MARK: - Field readers: each touches the same fields on both sides.

/// Heartbeat: the uid (all 16 bytes), sequence number and capabilities.
@inline(__always)
func readHeartbeat(_ v: AgentToServerView) -> UInt64 {
    let uid = InstanceUID(bytes: v.instanceUid)
    return (uid?.low ?? 0) &+ v.sequenceNum &+ v.capabilities
}

@inline(__always)
func readHeartbeat(_ m: Opamp_Proto_AgentToServer) -> UInt64 {
    let uid = m.instanceUid.withUnsafeBytes { InstanceUID(bytes: RawSpan(_unsafeBytes: $0)) }
    return (uid?.low ?? 0) &+ m.sequenceNum &+ m.capabilities
}

@inline(__always)
func readAttributes(_ kvs: ProtoRepeated<KeyValueView>) -> Int {
    var n = 0
    var it = kvs.makeIterator()
    while let kv = it.next() {
        n &+= kv.key.utf8Count
        if case .stringValue(let s)? = kv.value?.value { n &+= s.utf8Count }
    }
    return n
}

@inline(__always)
func readComponent(_ h: ComponentHealthView) -> Int {
    (h.healthy ? 1 : 0) &+ Int(truncatingIfNeeded: h.startTimeUnixNano &+ h.statusTimeUnixNano)
        &+ h.status.utf8Count &+ h.lastError.utf8Count
}

/// Full status through the view: every top-level field and everything under it.
func readFullStatus(_ v: AgentToServerView) -> Int {
    var n = v.instanceUid.count &+ Int(truncatingIfNeeded: v.sequenceNum &+ v.capabilities)
    if let d = v.agentDescription {
        n &+= readAttributes(d.identifyingAttributes)
        n &+= readAttributes(d.nonIdentifyingAttributes)
    }
    if let h = v.health {
        n &+= readComponent(h)
        var components = h.componentHealthMap.makeIterator()
        while let c = components.next() { n &+= c.key.utf8Count &+ readComponent(c.value) }
    }
    if let e = v.effectiveConfig, let map = e.configMap {
        var files = map.configMap.makeIterator()
        while let entry = files.next() {
            let file = entry.value
            n &+= entry.key.utf8Count &+ file.body.count &+ file.contentType.utf8Count
        }
    }
    if let r = v.remoteConfigStatus {
        n &+= r.lastRemoteConfigHash.count &+ Int(r.status.rawValue) &+ r.errorMessage.utf8Count
    }
    return n
}

func readAttributes(_ kvs: [KeyValue]) -> Int {
    var n = 0
    for kv in kvs {
        n &+= kv.key.utf8.count
        if case .stringValue(let s)? = kv.value?.value { n &+= s.utf8.count }
    }
    return n
}

func readComponent(_ h: ComponentHealth) -> Int {
    (h.healthy ? 1 : 0) &+ Int(truncatingIfNeeded: h.startTimeUnixNano &+ h.statusTimeUnixNano)
        &+ h.status.utf8.count &+ h.lastError.utf8.count
}

/// Full status through Core's owned message.
func readFullStatus(_ m: AgentToServer) -> Int {
    var n = m.instanceUid.count &+ Int(truncatingIfNeeded: m.sequenceNum &+ m.capabilities)
    if let d = m.agentDescription {
        n &+= readAttributes(d.identifyingAttributes)
        n &+= readAttributes(d.nonIdentifyingAttributes)
    }
    if let h = m.health {
        n &+= readComponent(h)
        for (key, c) in h.componentHealthMap { n &+= key.utf8.count &+ readComponent(c) }
    }
    if let e = m.effectiveConfig, let map = e.configMap {
        for (name, file) in map.configMap {
            n &+= name.utf8.count &+ file.body.count &+ file.contentType.utf8.count
        }
    }
    if let r = m.remoteConfigStatus {
        n &+= r.lastRemoteConfigHash.count &+ Int(r.status.rawValue) &+ r.errorMessage.utf8.count
    }
    return n
}

func readAttributes(_ kvs: [Opamp_Proto_KeyValue]) -> Int {
    var n = 0
    for kv in kvs {
        n &+= kv.key.utf8.count
        if case .stringValue(let s)? = kv.value.value { n &+= s.utf8.count }
    }
    return n
}

func readComponent(_ h: Opamp_Proto_ComponentHealth) -> Int {
    (h.healthy ? 1 : 0) &+ Int(truncatingIfNeeded: h.startTimeUnixNano &+ h.statusTimeUnixNano)
        &+ h.status.utf8.count &+ h.lastError.utf8.count
}

/// Full status through swift-protobuf's message.
func readFullStatus(_ m: Opamp_Proto_AgentToServer) -> Int {
    var n = m.instanceUid.count &+ Int(truncatingIfNeeded: m.sequenceNum &+ m.capabilities)
    if m.hasAgentDescription {
        n &+= readAttributes(m.agentDescription.identifyingAttributes)
        n &+= readAttributes(m.agentDescription.nonIdentifyingAttributes)
    }
    if m.hasHealth {
        let h = m.health
        n &+= readComponent(h)
        for (key, c) in h.componentHealthMap { n &+= key.utf8.count &+ readComponent(c) }
    }
    if m.hasEffectiveConfig && m.effectiveConfig.hasConfigMap {
        for (name, file) in m.effectiveConfig.configMap.configMap {
            n &+= name.utf8.count &+ file.body.count &+ file.contentType.utf8.count
        }
    }
    if m.hasRemoteConfigStatus {
        let r = m.remoteConfigStatus
        n &+= r.lastRemoteConfigHash.count &+ r.status.rawValue &+ r.errorMessage.utf8.count
    }
    return n
}

// MARK: - Decoding helpers (a decode failure is a broken fixture: stop loudly).

@inline(__always)
func viewDecode<R>(_ raw: RawSpan, _ body: (AgentToServerView) -> R) -> R {
    do throws(ProtoDecodeError) {
        return try AgentToServerView.decode(raw, body)
    } catch {
        fatalError("fixture did not decode: \(error)")
    }
}

/// Lends `bytes` to `body` as a span, the form the decoders take.
@inline(__always)
func withSpan<R>(_ bytes: [UInt8], _ body: (RawSpan) -> R) -> R {
    body(bytes.span.bytes)
}

@inline(__always)
func peerDecode(_ bytes: [UInt8]) -> Opamp_Proto_AgentToServer {
    do {
        return try Opamp_Proto_AgentToServer(serializedBytes: bytes)
    } catch {
        fatalError("fixture did not decode with swift-protobuf: \(error)")
    }
}

/// One agent's in-order heartbeats (seq 1...1000), concatenated, for the session step.
struct HeartbeatRun: Sendable {
    let bytes: [UInt8]
    let ranges: [Range<Int>]

    init(count: Int) {
        var all: [UInt8] = []
        var ranges: [Range<Int>] = []
        for seq in 1...count {
            let m = Fixtures.heartbeat(seq: UInt64(seq)).serializedBytes()
            ranges.append(all.count..<all.count + m.count)
            all += m
        }
        self.bytes = all
        self.ranges = ranges
    }
}

/// Checks that both decoders see the same content, so the pairs compare like with like.
func checkFixtures() {
    let hb = Fixtures.heartbeatBytes
    let ours = withSpan(hb) { raw in viewDecode(raw, readHeartbeat) }
    precondition(ours == readHeartbeat(peerDecode(hb)), "heartbeat differs between decoders")
    let full = Fixtures.fullStatusBytes
    let viewSum = withSpan(full) { raw in viewDecode(raw, readFullStatus) }
    let peerSum = readFullStatus(peerDecode(full))
    let ownedSum = readFullStatus(Fixtures.fullStatus)
    precondition(viewSum == peerSum && viewSum == ownedSum, "full status differs: \(viewSum) \(peerSum) \(ownedSum)")
    precondition((1_800...2_600).contains(full.count), "full status is \(full.count) bytes, not ~2 KB")

    var reply = SessionReply()
    reply.instanceUID = .valid(InstanceUID(bytes: Fixtures.uid)!)
    reply.capabilities = .ampora
    var peer = Opamp_Proto_ServerToAgent()
    peer.instanceUid = Fixtures.peerUID
    peer.capabilities = Fixtures.serverCaps
    precondition(reply.serializedBytes() == (try! peer.serializedBytes() as [UInt8]), "heartbeat replies differ")
    reply.remoteConfig = Fixtures.sharedRemoteConfig
    peer.remoteConfig = Fixtures.peerRemoteConfig
    let a = reply.serializedBytes()
    let b: [UInt8] = try! peer.serializedBytes()
    precondition(a.count == b.count, "config replies differ in size: \(a.count) vs \(b.count)")
}

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    checkFixtures()

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // 0. The harness alone: what every line below includes besides the work (the malloc
    // interposer counts a fixed 16 harness allocations per 1000-operation iteration).
    Benchmark("0 harness: empty loop") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(i)
        }
    }

    // 1. Heartbeat decode: validate, then read uid, sequence_num and capabilities.
    let heartbeat = Fixtures.heartbeatBytes
    Benchmark("1 heartbeat decode: Ampora view") { benchmark in
        withSpan(heartbeat) { raw in
            for _ in benchmark.scaledIterations {
                blackHole(viewDecode(raw, readHeartbeat))
            }
        }
    }
    Benchmark("1 heartbeat decode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(readHeartbeat(peerDecode(heartbeat)))
        }
    }

    // 2. Full status decode (~2 KB), touching every top-level field and what is under it.
    let full = Fixtures.fullStatusBytes
    Benchmark("2 full status decode: Ampora view") { benchmark in
        withSpan(full) { raw in
            for _ in benchmark.scaledIterations {
                blackHole(viewDecode(raw, readFullStatus))
            }
        }
    }
    Benchmark("2 full status decode: Ampora owned") { benchmark in
        withSpan(full) { raw in
            for _ in benchmark.scaledIterations {
                do throws(ProtoDecodeError) {
                    blackHole(readFullStatus(try AgentToServer(validating: raw)))
                } catch {
                    fatalError("\(error)")
                }
            }
        }
    }
    Benchmark("2 full status decode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(readFullStatus(peerDecode(full)))
        }
    }

    // 3. Reply encode: uid + capabilities; then the same with a shared 1.7 KB remote config.
    let uid = InstanceUID(bytes: Fixtures.uid)!
    let peerUID = Fixtures.peerUID
    let shared = Fixtures.sharedRemoteConfig
    let peerConfig = Fixtures.peerRemoteConfig
    Benchmark("3a heartbeat reply encode: Ampora SessionReply") { benchmark in
        var writer = ProtoWriter(capacity: 4096)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reply = SessionReply()
            reply.instanceUID = .valid(uid)
            reply.capabilities = .ampora
            writer.reset()
            reply.encode(into: &writer)
            blackHole(writer.bytes.count)
        }
    }
    Benchmark("3a heartbeat reply encode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            var reply = Opamp_Proto_ServerToAgent()
            reply.instanceUid = peerUID
            reply.capabilities = Fixtures.serverCaps
            let out: [UInt8] = try! reply.serializedBytes()
            blackHole(out.count)
        }
    }
    Benchmark("3b remote config reply encode: Ampora SessionReply + SharedRemoteConfig") { benchmark in
        var writer = ProtoWriter(capacity: 4096)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reply = SessionReply()
            reply.instanceUID = .valid(uid)
            reply.remoteConfig = shared
            writer.reset()
            reply.encode(into: &writer)
            blackHole(writer.bytes.count)
        }
    }
    Benchmark("3b remote config reply encode: swift-protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            var reply = Opamp_Proto_ServerToAgent()
            reply.instanceUid = peerUID
            reply.remoteConfig = peerConfig
            let out: [UInt8] = try! reply.serializedBytes()
            blackHole(out.count)
        }
    }

    // 4. One session step per heartbeat: decode view + AgentSession.receive + encode reply.
    // Each measured iteration replays seq 1...1000 on a session that already holds the agent's
    // full status, so every step takes the in-order heartbeat path.
    let run = HeartbeatRun(count: 1_000)
    let peerRun: [[UInt8]] = run.ranges.map { Array(run.bytes[$0]) }
    let desired = DesiredState()
    let primed: AgentSession = {
        var session = AgentSession()
        var uids = CountingUIDs()
        withSpan(Fixtures.fullStatusBytes) { raw in
            _ = viewDecode(raw) { view in session.receive(view, desired: desired, uids: &uids) }
        }
        return session
    }()
    Benchmark("4 session step: Ampora view + receive + encode") { benchmark in
        var session = primed
        var uids = CountingUIDs()
        var writer = ProtoWriter(capacity: 4096)
        benchmark.startMeasurement()
        withSpan(run.bytes) { all in
            for i in benchmark.scaledIterations {
                let raw = all.extracting(run.ranges[i])
                let reply = viewDecode(raw) { view in session.receive(view, desired: desired, uids: &uids).reply }
                writer.reset()
                reply.encode(into: &writer)
                blackHole(writer.bytes.count)
            }
        }
    }
    Benchmark("4 session step: swift-protobuf decode + encode only (no session logic)") { benchmark in
        for i in benchmark.scaledIterations {
            let message = peerDecode(peerRun[i])
            var reply = Opamp_Proto_ServerToAgent()
            reply.instanceUid = message.instanceUid
            let out: [UInt8] = try! reply.serializedBytes()
            blackHole(out.count)
        }
    }
}
