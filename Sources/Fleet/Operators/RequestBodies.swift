import Foundation

/// A request body the operator API refuses with 400: a stable `code` and a message naming the field.
public struct BodyError: Error, Sendable, Equatable {
    /// `invalid_json` or `invalid_field`.
    public var code: String
    /// What is wrong, naming the field.
    public var message: String

    /// A refusal.
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    static func field(_ message: String) -> BodyError { BodyError("invalid_field", message) }
}

/// `POST /api/v1/rollouts`, read and checked.
public struct RolloutRequest: Sendable, Equatable {
    /// The config's name.
    public var config: String
    /// The published version to roll out.
    public var version: Int64
    /// Which agents.
    public var target: RolloutTarget
    /// The stages, in order (none: one stage of everything).
    public var stages: [RolloutStage]
    /// Seconds each stage soaks before the next one starts.
    public var soakSeconds: Int64
    /// When to pause.
    public var gates: RolloutGates
}

/// `POST /api/v1/access-tokens`, read and checked.
public struct AccessTokenRequest: Sendable, Equatable {
    /// The role the token carries.
    public var role: OperatorRole
    /// Its display name.
    public var name: String
    /// Lifetime in milliseconds; nil: no expiry.
    public var expiresAfterMilliseconds: Int64?
}

/// `POST /api/v1/tokens` (enrollment), read and checked.
public struct EnrollmentTokenRequest: Sendable, Equatable {
    /// How many enrollments it allows; nil: any.
    public var uses: Int64?
    /// Lifetime in seconds; nil: no expiry.
    public var expiresInSeconds: Int64?
    /// Labels given to the agents it enrolls.
    public var labels: [String: String]
}

/// `PUT /api/v1/groups/{name}`, read and checked.
public struct GroupRequest: Sendable, Equatable {
    /// The saved selector.
    public var selector: [String: String]
    /// What the group is for.
    public var description: String
}

/// `POST /api/v1/agents/commands`, read and checked.
public struct CommandRequest: Sendable, Equatable {
    /// The command.
    public var kind: AgentCommandKind
    /// Which agents (`{}`: all).
    public var selector: [String: String]
}

/// `POST …/custom-messages`; capability and type are checked where forms send them too.
public struct CustomMessageRequest: Sendable, Equatable {
    /// The capability named, if a string.
    public var capability: String?
    /// The message type, if a string.
    public var type: String?
    /// The decoded payload.
    public var data: [UInt8]
}

/// The operator API's JSON request bodies read into typed requests. Pure (bytes in, a request or
/// a `BodyError` out), so that fuzz/Sources/FuzzRESTBodies can drive every reader with any bytes.
public enum OperatorRequest {
    /// A JSON object that has only `allowed` fields; an empty body is `{}` when `emptyIsObject`.
    public static func object(_ bytes: [UInt8], allowed: Set<String>, emptyIsObject: Bool = false) throws(BodyError)
        -> [String: Any]
    {
        if bytes.isEmpty, emptyIsObject { return [:] }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw BodyError("invalid_json", "the body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .field("unknown field \(unknown)")
        }
        return object
    }

    /// A JSON object of strings (a selector), or a refusal naming the field.
    public static func strings(_ raw: Any, _ name: String) throws(BodyError) -> [String: String] {
        guard let map = raw as? [String: Any] else { throw .field("\(name) must be an object of names to strings") }
        var out: [String: String] = [:]
        for (key, value) in map {
            guard let text = value as? String else { throw .field("\(name).\(key) must be a string") }
            out[key] = text
        }
        return out
    }

    /// A whole number of at least 1, or nil when absent.
    static func positive(_ value: Any?, _ name: String) throws(BodyError) -> Int64? {
        guard let value else { return nil }
        guard let number = wholeNumber(value), number >= 1 else {
            throw .field("\(name) must be a whole number of at least 1")
        }
        return Int64(number)
    }

    /// A JSON number without a fraction, as `Int` (Foundation's bridging decides what converts).
    static func wholeNumber(_ value: Any) -> Int? { value as? Int }

    /// `{"config", "version", "target", "stages", "soakSeconds", "gates"}`.
    public static func rollout(_ bytes: [UInt8]) throws(BodyError) -> RolloutRequest {
        let object = try object(
            bytes, allowed: ["config", "version", "target", "stages", "soakSeconds", "gates"])
        guard let config = object["config"] as? String, !config.isEmpty else {
            throw .field("config (a config name) is required")
        }
        guard let version = object["version"].flatMap(wholeNumber), version >= 1 else {
            throw .field("version (a published version number) is required")
        }
        let target = try target(object["target"])
        let stages = try stages(object["stages"])
        var soak: Int64 = 0
        if let raw = object["soakSeconds"] {
            guard let seconds = wholeNumber(raw), seconds >= 0, seconds <= 7 * 86_400 else {
                throw .field("soakSeconds must be a whole number from 0 to 604800")
            }
            soak = Int64(seconds)
        }
        return RolloutRequest(
            config: config, version: Int64(version), target: target, stages: stages, soakSeconds: soak,
            gates: try gates(object["gates"]))
    }

    private static func target(_ raw: Any?) throws(BodyError) -> RolloutTarget {
        guard let object = raw as? [String: Any], object.count == 1 else {
            throw .field("target must be one of {\"selector\": {…}}, {\"group\": NAME}, {\"uids\": […]}")
        }
        if let selector = object["selector"] { return .selector(try strings(selector, "target.selector")) }
        if let group = object["group"] {
            guard let name = group as? String, !name.isEmpty else { throw .field("target.group must be a group name") }
            return .group(name)
        }
        if let uids = object["uids"] {
            guard let list = uids as? [String], !list.isEmpty, list.count <= 1_000_000 else {
                throw .field("target.uids must be a non-empty array of UUID strings")
            }
            return .uids(list)
        }
        throw .field("target must have selector, group or uids")
    }

    private static func stages(_ raw: Any?) throws(BodyError) -> [RolloutStage] {
        guard let raw else { return [] }
        guard let list = raw as? [[String: Any]], list.count <= 100 else {
            throw .field("stages must be an array of at most 100 objects")
        }
        var lastPercent = 0.0
        var stages: [RolloutStage] = []
        for (index, stage) in list.enumerated() {
            guard stage.count == 1 else { throw .field("stages[\(index)] must have one of selector, percent, count") }
            if let selector = stage["selector"] {
                stages.append(.selector(try strings(selector, "stages[\(index)].selector")))
            } else if let percent = stage["percent"] as? Double, percent > 0,
                percent <= 100, percent >= lastPercent
            {
                lastPercent = percent
                stages.append(.percent(percent))
            } else if let count = stage["count"].flatMap(wholeNumber), count >= 1 {
                stages.append(.count(count))
            } else {
                throw .field(
                    "stages[\(index)]: percent is from 0 (excluded) to 100 and grows stage by stage; count is at least 1"
                )
            }
        }
        return stages
    }

    private static func gates(_ raw: Any?) throws(BodyError) -> RolloutGates {
        guard let raw else { return RolloutGates() }
        guard let object = raw as? [String: Any] else { throw .field("gates must be an object") }
        var gates = RolloutGates()
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard let limit = GateLimit.parse(value) else {
                throw .field("gates.\(key) must be a count (5) or a percentage (\"2%\")")
            }
            switch key {
            case "maxFailed": gates.maxFailed = limit
            case "maxUnhealthy": gates.maxUnhealthy = limit
            case "maxStalled": gates.maxStalled = limit
            default: throw .field("unknown gate \(key)")
            }
        }
        return gates
    }

    /// `{"role", "name", "expiresInSeconds"}`.
    public static func accessToken(_ bytes: [UInt8]) throws(BodyError) -> AccessTokenRequest {
        let object = try object(bytes, allowed: ["role", "name", "expiresInSeconds"])
        guard let roleName = object["role"] as? String, let role = OperatorRole(rawValue: roleName) else {
            throw .field("role must be admin, operator or viewer")
        }
        let name = object["name"] as? String ?? "\(roleName) token"
        guard (1...200).contains(name.count), object["name"] == nil || object["name"] is String else {
            throw .field("name must be a string of 1 to 200 characters")
        }
        var expires: Int64?
        if let raw = object["expiresInSeconds"] {
            guard let seconds = wholeNumber(raw), seconds >= 1, seconds <= 10 * 365 * 86_400 else {
                throw .field("expiresInSeconds must be a whole number from 1 to 315360000")
            }
            expires = Int64(seconds) * 1000
        }
        return AccessTokenRequest(role: role, name: name, expiresAfterMilliseconds: expires)
    }

    /// `{"uses", "expiresInSeconds", "labels"}`, every field optional, an empty body too.
    public static func enrollmentToken(_ bytes: [UInt8]) throws(BodyError) -> EnrollmentTokenRequest {
        let object = try object(bytes, allowed: ["uses", "expiresInSeconds", "labels"], emptyIsObject: true)
        var labels: [String: String] = [:]
        if let raw = object["labels"] {
            guard let map = raw as? [String: String] else { throw .field("labels must be an object of strings") }
            labels = map
        }
        return EnrollmentTokenRequest(
            uses: try positive(object["uses"], "uses"),
            expiresInSeconds: try positive(object["expiresInSeconds"], "expiresInSeconds"), labels: labels)
    }

    /// `{"selector", "description"}`.
    public static func group(_ bytes: [UInt8]) throws(BodyError) -> GroupRequest {
        let object = try object(bytes, allowed: ["selector", "description"])
        guard let raw = object["selector"] else { throw .field("selector (an object of names to strings) is required") }
        let selector = try strings(raw, "selector")
        guard let description = object["description"].map({ $0 as? String }) ?? "" else {
            throw .field("description must be a string")
        }
        return GroupRequest(selector: selector, description: description)
    }

    /// `{"command", "selector"}`.
    public static func command(_ bytes: [UInt8]) throws(BodyError) -> CommandRequest {
        let object = try object(bytes, allowed: ["command", "selector"])
        guard let name = object["command"] as? String, let kind = AgentCommandKind(rawValue: name) else {
            let names = AgentCommandKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw .field("command must be one of \(names)")
        }
        guard let raw = object["selector"] else {
            throw .field("selector (an object of names to strings; {} for all) is required")
        }
        return CommandRequest(kind: kind, selector: try strings(raw, "selector"))
    }

    /// `{"capability", "type", "data"}`, data in base64.
    public static func customMessage(_ bytes: [UInt8]) throws(BodyError) -> CustomMessageRequest {
        let object = try object(bytes, allowed: ["capability", "type", "data"])
        var data: [UInt8] = []
        if let raw = object["data"] {
            guard let encoded = raw as? String, let decoded = Data(base64Encoded: encoded) else {
                throw .field("data must be a base64 string")
            }
            data = Array(decoded)
        }
        return CustomMessageRequest(
            capability: object["capability"] as? String, type: object["type"] as? String, data: data)
    }
}
