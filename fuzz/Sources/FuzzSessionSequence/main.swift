import Core

/// libFuzzer entry, structure-aware: the input is a script of steps for one connection (messages
/// built from well-formed `AgentToServer` fields the script chooses, pushes, re-offers, commands,
/// duplicate reassignments). Each message is encoded and decoded through the zero-copy view as
/// the gateway does, and after every step the session's replies are checked against a small model
/// of the protocol's rules (docs/PROTOCOL.md), not only for the absence of a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSessionSequence(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var script = Script(UnsafeRawBufferPointer(start: data, count: size))
    var run = SessionRun()
    var steps = 0
    while !script.isEmpty, steps < 64 {
        run.step(&script)
        steps += 1
    }
    return 0
}

/// Reads the input as a sequence of choices; an exhausted input reads as zeros.
struct Script {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isEmpty: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bits16() -> UInt64 { UInt64(byte()) | UInt64(byte()) << 8 }

    mutating func pick<T>(_ options: [T]) -> T { options[Int(byte()) % options.count] }
}

/// Fixed material, built once: the generator's choices index into these.
enum Material {
    static let uidA = InstanceUID(high: 0x0123_4567_89AB_CDEF, low: 1)
    static let uidB = InstanceUID(high: 0x0123_4567_89AB_CDEF, low: 2)
    static let configs: [SharedRemoteConfig] = ["receivers: {}\n", "exporters: {}\n"].map { text in
        var file = AgentConfigFile()
        file.body = Array(text.utf8)
        file.contentType = "text/yaml"
        var map = AgentConfigMap()
        map.configMap[""] = file
        var config = AgentRemoteConfig()
        config.config = map
        config.configHash = Array("hash-\(text.count)-\(text.first!)".utf8)
        return SharedRemoteConfig(config)
    }
    static let settingsHashes: [[UInt8]] = [Array("settings-1".utf8), Array("settings-2".utf8)]
    static let packages: SharedPackages = {
        var packages = PackagesAvailable()
        packages.allPackagesHash = Array("packages-1".utf8)
        return SharedPackages(packages)
    }()
    static let customCapabilities = ["io.ampora.fuzz", "io.ampora.other"]
    static let componentHashes: [[UInt8]] = [[], Array("components-known".utf8), Array("components-new".utf8)]

    static func desired(_ choice: UInt8) -> DesiredState {
        var desired = DesiredState(knownComponentHashes: [Fingerprint.of(componentHashes[1])])
        switch choice % 4 {
        case 0: break
        case 1: desired.remoteConfig = configs[0]
        case 2: desired.remoteConfig = configs[1]
        default:
            desired.remoteConfig = configs[0]
            desired.packages = packages
        }
        if choice & 4 != 0 {
            var offers = ConnectionSettingsOffers()
            offers.hash = settingsHashes[Int(choice >> 3) & 1]
            offers.opamp = OpAMPConnectionSettings()
            desired.connectionSettings = offers
        }
        if choice & 16 != 0 { desired.customCapabilities = [customCapabilities[0]] }
        return desired
    }
}

/// Always the same uid, so that the model knows what an assignment gave.
struct FixedUIDs: InstanceUIDGenerator {
    static let uid = InstanceUID(high: 0xFEED, low: 0xBEEF)
    mutating func next() -> InstanceUID { Self.uid }
}

/// One connection's session next to what the protocol says must hold of it.
struct SessionRun {
    var session = AgentSession()
    var uids = FixedUIDs()
    var desired = DesiredState()
    /// The uid the connection speaks for, once a message was accepted.
    var uid: InstanceUID?
    var assigned: InstanceUID?
    var disconnected = false
    /// True once a message was accepted.
    var spoke = false
    var capabilitiesSent = false
    var caps: AgentCapabilities = []
    var lastSequence: UInt64?
    var awaitingFullState = false
    /// Fingerprint of the config hash the agent last reported running (0: none).
    var reportedConfig: UInt64 = 0
    /// Fingerprint of the config last offered on this connection (0: none).
    var offeredConfig: UInt64 = 0
    /// The config last reported failed; forgotten once another config is desired.
    var failedConfig: UInt64 = 0
    var held: StatusParts = []

    mutating func step(_ script: inout Script) {
        switch script.byte() % 10 {
        case 0...4: receive(&script)
        case 5: desired = Material.desired(script.byte())
        case 6: checkPush(session.push(desired), reoffer: false)
        case 7: checkPush(session.reoffer(desired), reoffer: true)
        case 8:
            let restart = script.byte() & 1 == 1
            let reply = restart ? session.restart() : session.requestFullState()
            let possible =
                restart ? uid != nil && caps.contains(.acceptsRestartCommand) : uid != nil && spoke && !disconnected
            expect((reply != nil) == possible, restart ? "restart refused or misplaced" : "full state ask misplaced")
            if let reply {
                checkCapabilitiesOnce(reply)
                if reply.flags.contains(.reportFullState) { awaitingFullState = true }
            }
        default:
            if let reply = session.reassignDuplicate(uids: &uids) {
                expect(reply.newInstanceUID == FixedUIDs.uid, "reassignment without the new uid")
                assigned = FixedUIDs.uid
                checkCapabilitiesOnce(reply)
            } else {
                expect(uid == nil, "no reassignment for a named connection")
            }
        }
    }

    /// Builds a message from the script, sends it through encoding and the view, checks the reply.
    mutating func receive(_ script: inout Script) {
        var message = AgentToServer()
        var requestsUID = false
        switch script.byte() % 6 {
        case 0, 1: message.instanceUid = Material.uidA.bytes
        case 2: message.instanceUid = Material.uidB.bytes
        case 3: message.instanceUid = (assigned ?? Material.uidA).bytes
        case 4: requestsUID = true
        default: message.instanceUid = Array(repeating: script.byte(), count: Int(script.byte() % 20))
        }
        let sequenceChoice = script.byte()
        switch sequenceChoice % 4 {
        case 0, 1: message.sequenceNum = (lastSequence ?? 0) &+ 1
        case 2: message.sequenceNum = lastSequence ?? 0
        default: message.sequenceNum = script.bits16()
        }
        message.capabilities = script.bits16() | UInt64(script.byte() & 1)
        let parts = script.bits16()
        if parts & 1 != 0 {
            var description = AgentDescription()
            var name = KeyValue()
            name.key = "service.name"
            var value = AnyValue()
            value.value = .stringValue("fuzz-\(script.byte() % 3)")
            name.value = value
            description.identifyingAttributes = [name]
            message.agentDescription = description
        }
        if parts & 2 != 0 {
            var health = ComponentHealth()
            health.healthy = script.byte() & 1 == 0
            health.lastError = health.healthy ? "" : "down"
            message.health = health
        }
        if parts & 4 != 0 {
            var effective = EffectiveConfig()
            effective.configMap = AgentConfigMap()
            message.effectiveConfig = effective
        }
        var reportedHash: [UInt8]?
        if parts & 8 != 0 {
            var status = RemoteConfigStatus()
            let hashChoice = script.byte() % 4
            status.lastRemoteConfigHash =
                hashChoice == 0
                ? [] : hashChoice == 3 ? Array("other".utf8) : Material.configs[Int(hashChoice - 1)].hash
            status.status = RemoteConfigStatuses(rawValue: Int32(script.byte() % 4))
            reportedHash = status.lastRemoteConfigHash
            message.remoteConfigStatus = status
        }
        if parts & 16 != 0 {
            var statuses = PackageStatuses()
            statuses.serverProvidedAllPackagesHash = script.byte() & 1 == 0 ? [] : Material.packages.allPackagesHash
            message.packageStatuses = statuses
        }
        if parts & 32 != 0 {
            var components = AvailableComponents()
            components.hash = script.pick(Material.componentHashes)
            message.availableComponents = components
        }
        if parts & 64 != 0 {
            var status = ConnectionSettingsStatus()
            status.lastConnectionSettingsHash = script.pick(Material.settingsHashes)
            message.connectionSettingsStatus = status
        }
        if parts & 128 != 0 {
            var custom = CustomCapabilities()
            custom.capabilities = Array(Material.customCapabilities.prefix(Int(script.byte() % 3)))
            message.customCapabilities = custom
        }
        if parts & 256 != 0 {
            var custom = CustomMessage()
            custom.capability = script.pick(Material.customCapabilities)
            custom.type = "ping"
            message.customMessage = custom
        }
        if parts & 512 != 0 { message.connectionSettingsRequest = ConnectionSettingsRequest() }
        let disconnects = parts & 1024 != 0 && script.byte() % 8 == 0
        if disconnects { message.agentDisconnect = AgentDisconnect() }
        message.flags = requestsUID ? 1 : 0

        let encoded = message.serializedBytes()
        let outcome = try? AgentToServerView.decode(encoded.span.bytes) { view in
            session.receive(view, desired: desired, uids: &uids)
        }
        guard let (reply, changes) = outcome else { fatalError("a well-formed message did not decode") }
        check(reply, changes, for: message, reportedHash: reportedHash)
    }

    mutating func check(
        _ reply: SessionReply, _ changes: StatusChanges, for message: AgentToServer, reportedHash: [UInt8]?
    ) {
        // S1: every reply is a ServerToAgent a client can decode.
        guard let decoded = try? ServerToAgent(serializedBytes: reply.serializedBytes()) else {
            fatalError("an undecodable reply")
        }
        let messageUID = InstanceUID(bytes: message.instanceUid)
        let requestsUID = message.flags & 1 != 0
        let refusedUID = messageUID == nil && !(message.instanceUid.isEmpty && requestsUID)
        let foreign = messageUID.map { id in uid.map { $0 != id && id != assigned } ?? false } ?? false
        // S27: nothing is taken after agent_disconnect, whatever the message names.
        let mustRefuse = refusedUID || foreign || disconnected
        if mustRefuse {
            expect(decoded.errorResponse?.type == .badRequest, "a message to refuse was accepted")
            expect(reply.remoteConfig == nil && reply.packages == nil, "an offer on a refusal")
            expect(changes == StatusChanges(), "a refused message changed the agent")
            expect(session.instanceUID == uid, "a refused message renamed the connection")
            return
        }
        expect(decoded.errorResponse == nil, "an acceptable message was refused: \(decoded.errorResponse!)")
        spoke = true
        if let messageUID {
            uid = messageUID
            expect(reply.instanceUID == .valid(messageUID), "the reply does not name the agent")
        }
        expect(session.instanceUID == uid, "the session names another agent")
        checkCapabilitiesOnce(reply)
        if requestsUID {
            expect(reply.newInstanceUID == FixedUIDs.uid, "a uid was requested and not given")
            assigned = FixedUIDs.uid
        }

        let newCaps = AgentCapabilities(rawValue: message.capabilities)
        caps = newCaps
        // S7: what the server holds only grows, and takes every part the message carried.
        var present: StatusParts = []
        if message.agentDescription != nil { present.insert(.description) }
        if message.health != nil { present.insert(.health) }
        if message.effectiveConfig != nil, newCaps.contains(.reportsEffectiveConfig) {
            present.insert(.effectiveConfig)
        }
        if message.remoteConfigStatus != nil { present.insert(.remoteConfigStatus) }
        if message.packageStatuses != nil { present.insert(.packageStatuses) }
        if message.availableComponents != nil { present.insert(.availableComponents) }
        if message.connectionSettingsStatus != nil { present.insert(.connectionSettingsStatus) }
        if message.customCapabilities != nil { present.insert(.customCapabilities) }
        held.formUnion(present)
        expect(session.held == held, "held parts \(session.held) but the agent reported \(held)")
        if message.effectiveConfig != nil, !newCaps.contains(.reportsEffectiveConfig) {
            expect(changes.effectiveConfig == nil, "an effective config from an agent that does not report one")
        }

        // S8: a gap in the sequence asks for the full state unless this message carries it.
        let required = StatusParts.required(by: newCaps)
        let sequence = message.sequenceNum
        if awaitingFullState {
            awaitingFullState = false
        } else if let last = lastSequence, sequence != last, sequence != last &+ 1 {
            expect(changes.sequenceGap, "a sequence gap went unnoticed")
            if !present.isSuperset(of: required) {
                expect(reply.flags.contains(.reportFullState), "a gap without the full state asked for nothing")
            }
        }
        lastSequence = sequence
        if reply.flags.contains(.reportFullState) { awaitingFullState = true }

        if let reportedHash {
            reportedConfig = reportedHash.isEmpty ? 0 : Fingerprint.of(reportedHash)
            if message.remoteConfigStatus?.status == .failed {
                failedConfig = reportedConfig
            } else if reportedConfig == failedConfig {
                failedConfig = 0
            }
        }
        checkConfigOffer(reply, reportedNow: reportedHash != nil)
        if message.agentDisconnect != nil {
            expect(changes.disconnected && session.isDisconnected, "agent_disconnect was not recorded")
            disconnected = true
        }
    }

    /// S9: a config goes to an agent that accepts one, never the one it runs, once per change
    /// unless the agent reports another hash; and MUST go again when it does.
    mutating func checkConfigOffer(_ reply: SessionReply, reportedNow: Bool, reoffer: Bool = false) {
        guard let target = desired.remoteConfig, caps.contains(.acceptsRemoteConfig) else {
            expect(reply.remoteConfig == nil, "a config for an agent that does not accept one")
            return
        }
        let fingerprint = target.hashFingerprint
        if fingerprint != failedConfig { failedConfig = 0 }
        // Never the config the agent last reported failed while it is still the one desired.
        let due =
            reportedConfig != fingerprint && fingerprint != failedConfig
            && (reportedNow || reoffer || offeredConfig != fingerprint)
        if due {
            expect(reply.remoteConfig === target, "a config that was due was not offered")
            offeredConfig = fingerprint
        } else {
            expect(reply.remoteConfig == nil, "a config offered twice, or the one the agent runs")
        }
    }

    mutating func checkPush(_ reply: SessionReply?, reoffer: Bool) {
        if reoffer {
            offeredConfig = 0
            failedConfig = 0
        }
        guard let reply else {
            if uid != nil, spoke, !disconnected, let target = desired.remoteConfig, caps.contains(.acceptsRemoteConfig)
            {
                // The session looked at the desired config as for an offer (see checkConfigOffer).
                if target.hashFingerprint != failedConfig { failedConfig = 0 }
                expect(
                    reportedConfig == target.hashFingerprint || offeredConfig == target.hashFingerprint
                        || failedConfig == target.hashFingerprint,
                    "no push although a config was due")
            }
            return
        }
        expect(uid != nil && spoke && !disconnected, "a push to an agent that has not spoken or has left")
        expect(reply.errorResponse == nil, "a push with an error")
        checkCapabilitiesOnce(reply)
        checkConfigOffer(reply, reportedNow: false, reoffer: reoffer)
    }

    /// S4: the server's capabilities go on the first non-error reply of the connection, only.
    mutating func checkCapabilitiesOnce(_ reply: SessionReply) {
        if capabilitiesSent {
            expect(reply.capabilities.isEmpty, "capabilities sent twice")
        } else {
            expect(!reply.capabilities.isEmpty, "the first reply without capabilities")
            capabilitiesSent = true
        }
    }

    func expect(_ condition: Bool, _ text: @autoclosure () -> String) {
        if !condition { fatalError("session invariant: \(text())") }
    }
}
