/// A close status code (RFC 6455 §7.4); a struct, not an enum, because the registered
/// 3000–4999 range is open-ended.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable {
    /// The code as it travels on the wire.
    public var rawValue: UInt16

    /// Wraps any code; use `isValidOnWire` to vet one a peer sent.
    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normal = WebSocketCloseCode(rawValue: 1000)
    /// 1001: the server is shutting down or the client navigated away.
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: the peer broke the framing rules.
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: a kind of message the endpoint does not take (OpAMP refuses text).
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1007: payload bytes inconsistent with the message type (bad UTF-8, bad deflate data).
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a generic policy refusal.
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a message above the receive limit.
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1010: the client needed an extension the server did not negotiate.
    public static let mandatoryExtension = WebSocketCloseCode(rawValue: 1010)
    /// 1011: the server hit an unexpected condition.
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether a peer may put this code in a close frame: 1004–1006 and 1015 are reserved for
    /// local reporting, 1012–2999 are unassigned or reserved for extensions this server does
    /// not speak, and below 1000 nothing is defined.
    @inlinable
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }
}
