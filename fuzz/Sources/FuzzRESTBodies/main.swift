import Fleet
import Foundation

/// libFuzzer entry: any bytes, given to every reader of the operator API's JSON bodies, are read
/// into a request that keeps the documented limits or refused with 400's code and a message,
/// never a trap; a rollout the API accepts must read back from the JSON the store keeps it as.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESTBodies(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    Bodies.check { () throws(BodyError) in try Bodies.rollout(OperatorRequest.rollout(bytes)) }
    Bodies.check { () throws(BodyError) in try Bodies.accessToken(OperatorRequest.accessToken(bytes)) }
    Bodies.check { () throws(BodyError) in
        let token = try OperatorRequest.enrollmentToken(bytes)
        Bodies.expect((token.uses ?? 1) >= 1 && (token.expiresInSeconds ?? 1) >= 1, "a count below 1")
    }
    Bodies.check { () throws(BodyError) in _ = try OperatorRequest.group(bytes) }
    Bodies.check { () throws(BodyError) in _ = try OperatorRequest.command(bytes) }
    Bodies.check { () throws(BodyError) in _ = try OperatorRequest.customMessage(bytes) }
    Bodies.check { () throws(BodyError) in _ = try OperatorRequest.configVersion(bytes) }
    Bodies.check { () throws(BodyError) in
        Bodies.expect(!(try OperatorRequest.assignment(bytes)).config.isEmpty, "an assignment without a config")
    }
    return 0
}

enum Bodies {
    /// Runs one reader: a refusal must be one of 400's codes, with a message.
    static func check(_ read: () throws(BodyError) -> Void) {
        do {
            try read()
        } catch {
            expect(["invalid_json", "invalid_field"].contains(error.code), "an unknown code \(error.code)")
            expect(!error.message.isEmpty, "a refusal without a message")
        }
    }

    static func rollout(_ request: RolloutRequest) {
        expect(!request.config.isEmpty && request.version >= 1, "a rollout without config or version")
        expect((0...604_800).contains(request.soakSeconds), "a soak out of range")
        expect(request.stages.count <= 100, "more than 100 stages")
        var last = 0.0
        for stage in request.stages {
            switch stage {
            case .percent(let percent):
                expect(percent > 0 && percent <= 100 && percent >= last, "a stage percentage out of order")
                last = percent
            case .count(let count): expect(count >= 1, "a stage of no agents")
            case .selector: break
            }
        }
        for limit in [request.gates.maxFailed, request.gates.maxStalled, request.gates.maxUnhealthy] {
            guard let limit else { continue }
            expect((limit.count ?? 0) >= 0 && (0...100).contains(limit.percent ?? 0), "a gate out of range")
        }
        // The store keeps the spec as JSON (RolloutSpec is Codable) and reads it back on restart.
        let spec = RolloutSpec(
            config: request.config, version: request.version, hash: "h", target: request.target,
            stages: request.stages, soakSeconds: request.soakSeconds, gates: request.gates)
        guard let stored = try? JSONEncoder().encode(spec) else { fatalError("an accepted rollout cannot be stored") }
        guard let again = try? JSONDecoder().decode(RolloutSpec.self, from: stored) else {
            fatalError("a stored rollout cannot be read back: \(String(decoding: stored, as: UTF8.self))")
        }
        expect(again == spec, "a stored rollout reads back different: \(String(decoding: stored, as: UTF8.self))")
    }

    static func accessToken(_ request: AccessTokenRequest) {
        expect((1...200).contains(request.name.count), "a token name out of range")
        if let expires = request.expiresAfterMilliseconds {
            expect(expires >= 1000 && expires <= 315_360_000_000, "a token lifetime out of range")
        }
    }

    static func expect(_ condition: Bool, _ text: @autoclosure () -> String) {
        if !condition { fatalError("REST body: \(text())") }
    }
}
