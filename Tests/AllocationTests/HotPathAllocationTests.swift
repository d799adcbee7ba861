import Core
import Foundation
import MallocInterposerSwift
import Testing

@testable import GatewayCore

/// Whether this is a debug build, where code the optimiser would specialise or inline allocates.
let isDebugBuild: Bool = {
    #if DEBUG
        true
    #else
        false
    #endif
}()

/// The allocation gate: a WebSocket heartbeat is received, decoded, answered and framed with no
/// heap allocation once the connection is established (README, Architecture). The counts come
/// from malloc-interposer; scripts/test.sh runs this suite on a release build with the library
/// preloaded and `AMPORA_ALLOCATION_GATE=1`, which turns an interposer that does not count into a
/// failure instead of a skip. Debug builds skip it: they allocate where release builds do not.
@Suite(.serialized, .enabled(if: !isDebugBuild, "the allocation gate runs on a release build (scripts/test.sh)"))
struct HotPathAllocationTests {
    static let required = ProcessInfo.processInfo.environment["AMPORA_ALLOCATION_GATE"] == "1"

    /// Allocations made by `body`, or nil when the interposer is not counting in this process.
    static func allocations(_ body: () -> Void) -> Int? {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.hook()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        probe.deallocate()
        MallocInterposerSwift.unhook()
        guard MallocInterposerSwift.getStatistics().mallocCount > 0 else { return nil }
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        body()
        MallocInterposerSwift.unhook()
        return MallocInterposerSwift.getStatistics().mallocCount
    }

    static func heartbeatFrame(_ uid: InstanceUID, seq: UInt64) -> [UInt8] {
        var m = AgentToServer()
        m.instanceUid = uid.bytes
        m.sequenceNum = seq
        m.capabilities = AgentCapabilities.reportsStatus.rawValue
        let payload = [0] + m.serializedBytes()
        return [0x82, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload
    }

    @Test func aWebSocketHeartbeatAllocatesNothing() throws {
        var configuration = GatewayConfiguration()
        configuration.registrationsPerSecond = 0
        let directory = InMemoryAgentDirectory()
        let ctx = LoopContext(
            configuration: configuration, directory: directory, live: LiveAgents(), httpSessions: HTTPSessionStore(),
            registrations: RegistrationLimiter(rate: 0, burst: 1), loopIndex: 0, clock: ManualClock(1_000))
        var connection = ConnectionMachine.accepted(token: 1, ctx)
        var out: [UInt8] = []
        out.reserveCapacity(64 * 1024)
        func receive(_ bytes: [UInt8]) {
            var input = bytes
            out.removeAll(keepingCapacity: true)
            _ = input.lendingBytes { connection.receive(&$0, ctx, &out) }
        }
        receive(
            Array(
                "GET /v1/opamp HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    .utf8))
        let uid = InstanceUID(high: 0x0190_c000_0000_7000, low: 0x8000_0000_0000_0001)
        var first = AgentToServer()
        first.instanceUid = uid.bytes
        first.capabilities = AgentCapabilities.reportsStatus.rawValue
        first.agentDescription = AgentDescription()
        let firstPayload = [0] + first.serializedBytes()
        receive([0x82, 0x80 | UInt8(firstPayload.count), 0, 0, 0, 0] + firstPayload)
        // Frames built up front: the gate measures the server's work, not the test's.
        let frames = (1...1100).map { Self.heartbeatFrame(uid, seq: UInt64($0)) }
        var input = [UInt8](repeating: 0, count: frames.map(\.count).max() ?? 0)
        for frame in frames.prefix(100) { receive(frame) }
        let counted = Self.allocations {
            for frame in frames.dropFirst(100) {
                input.withUnsafeMutableBytes { buffer in
                    let raw = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<frame.count])
                    frame.withUnsafeBytes { raw.copyMemory(from: $0) }
                    out.removeAll(keepingCapacity: true)
                    var span = MutableRawSpan(_unsafeBytes: raw)
                    _ = connection.receive(&span, ctx, &out)
                }
            }
        }
        guard let counted else {
            #expect(!Self.required, "malloc-interposer is not preloaded: the allocation gate cannot count")
            return
        }
        #expect(out.count > 2 && out[0] == 0x82, "the heartbeat was answered")
        #expect(counted == 0, "1 000 heartbeats made \(counted) heap allocations")
    }

    @Test func decodingAndAnsweringAHeartbeatAllocatesNothing() throws {
        let uid = InstanceUID(high: 0x0190_c000_0000_7000, low: 0x8000_0000_0000_0002)
        var session = AgentSession()
        var uids = UUIDv7Generator(now: { 0 }, rng: SystemRandomNumberGenerator())
        var writer = ProtoWriter(capacity: 4096)
        func step(_ frame: [UInt8]) {
            // Past the 6-byte WebSocket header and the OpAMP header byte.
            try? AgentToServerView.decode(frame.span.bytes.extracting(droppingFirst: 7)) { view in
                writer.reset()
                session.receive(view, desired: DesiredState(), uids: &uids).reply.encode(into: &writer)
            }
        }
        let frames = (0...1100).map { Self.heartbeatFrame(uid, seq: UInt64($0)) }
        for frame in frames.prefix(100) { step(frame) }
        let counted = Self.allocations { for frame in frames.dropFirst(100) { step(frame) } }
        guard let counted else {
            #expect(!Self.required, "malloc-interposer is not preloaded: the allocation gate cannot count")
            return
        }
        #expect(writer.bytes.count > 0)
        #expect(counted == 0, "1 000 decode-answer-encode steps made \(counted) heap allocations")
    }
}
