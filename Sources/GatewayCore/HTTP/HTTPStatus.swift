/// An HTTP status code with its standard reason phrase (RFC 9110 §15).
public struct HTTPStatus: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit code.
    public let code: Int

    /// A status by code; codes without a known phrase are written with an empty one, as RFC 9112 allows.
    public init(code: Int) {
        precondition((100...999).contains(code), "an HTTP status code has three digits")
        self.code = code
    }

    /// 100: the client may send the body it announced with `Expect: 100-continue`.
    public static let `continue` = HTTPStatus(code: 100)
    /// 101: the WebSocket upgrade is accepted.
    public static let switchingProtocols = HTTPStatus(code: 101)
    /// 200.
    public static let ok = HTTPStatus(code: 200)
    /// 204.
    public static let noContent = HTTPStatus(code: 204)
    /// 400.
    public static let badRequest = HTTPStatus(code: 400)
    /// 401.
    public static let unauthorized = HTTPStatus(code: 401)
    /// 404.
    public static let notFound = HTTPStatus(code: 404)
    /// 405.
    public static let methodNotAllowed = HTTPStatus(code: 405)
    /// 408: the head or body arrived too slowly.
    public static let requestTimeout = HTTPStatus(code: 408)
    /// 411.
    public static let lengthRequired = HTTPStatus(code: 411)
    /// 413.
    public static let contentTooLarge = HTTPStatus(code: 413)
    /// 414.
    public static let uriTooLong = HTTPStatus(code: 414)
    /// 415.
    public static let unsupportedMediaType = HTTPStatus(code: 415)
    /// 426.
    public static let upgradeRequired = HTTPStatus(code: 426)
    /// 429.
    public static let tooManyRequests = HTTPStatus(code: 429)
    /// 431.
    public static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431)
    /// 500.
    public static let internalServerError = HTTPStatus(code: 500)
    /// 501.
    public static let notImplemented = HTTPStatus(code: 501)
    /// 503.
    public static let serviceUnavailable = HTTPStatus(code: 503)
    /// 505.
    public static let httpVersionNotSupported = HTTPStatus(code: 505)

    /// The RFC 9110 reason phrase, or "" for a code this server never sends.
    public var reasonPhrase: String {
        switch code {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }

    /// "413 Content Too Large", for logs.
    public var description: String { "\(code) \(reasonPhrase)" }
}
