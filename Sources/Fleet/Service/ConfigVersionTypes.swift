/// One file of a config version: the Supervisor writes each under its name and merges them in
/// file-name order.
public struct ConfigFile: Sendable, Equatable {
    /// The file's bytes (UTF-8 text).
    public var body: [UInt8]
    /// The MIME type the agent is told (`text/yaml` unless the operator said otherwise).
    public var contentType: String

    /// A file.
    public init(body: [UInt8], contentType: String = "text/yaml") {
        self.body = body
        self.contentType = contentType
    }
}

/// One finding of the Toolkit's linter, with the members of an `ampora-tool lint --format json`
/// finding.
public struct ConfigFinding: Sendable, Equatable, Codable {
    /// Rule id, e.g. `undeclared-component`.
    public var rule: String
    /// `error`, `warning` or `info`.
    public var severity: String
    /// What is wrong.
    public var message: String
    /// The file of the version it is in.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int
    /// YAML path, empty for the whole file.
    public var path: String

    /// A finding.
    public init(
        rule: String, severity: String, message: String, file: String, line: Int, column: Int, path: String
    ) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
    }

    /// True for findings that block publishing.
    public var isError: Bool { severity == "error" }
}

/// One immutable version of a named config, without its files.
public struct ConfigVersionInfo: Sendable, Equatable {
    /// Config name.
    public var name: String
    /// 1, 2, …: drafts and published versions share one sequence.
    public var version: Int64
    /// Hex SHA-256 of the file map (`ConfigHash`).
    public var hash: String
    /// Who made it; nil for versions stored before authors were recorded.
    public var author: String?
    /// Why, in the author's words.
    public var message: String?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// True until it is published; a draft is never assigned.
    public var draft: Bool
    /// True for the config's current published version, the one assignments take.
    public var current: Bool
    /// What the Toolkit found when it was saved (or published), errors first.
    public var findings: [ConfigFinding]

    /// The entity tag naming this version: `"vN"`.
    public var etag: String { ConfigVersions.etag(version) }
}

/// A version with its files, in merge (file-name) order.
public struct ConfigVersionDetail: Sendable {
    /// The version.
    public var info: ConfigVersionInfo
    /// The files, sorted by the bytes of their names.
    public var files: [(name: String, file: ConfigFile)]
}

/// A page of a config's versions, newest first.
public struct ConfigVersionList: Sendable {
    /// Newest first.
    public var items: [ConfigVersionInfo]
    /// The current published version, if any.
    public var current: Int64?
    /// The config's entity tag (its newest version), for `If-Match`.
    public var etag: String
}

/// The answer to saving a version.
public struct SavedConfigVersion: Sendable {
    /// The version now stored (an existing one when the content was already there).
    public var info: ConfigVersionInfo
    /// False when the content matched an existing version, which is answered instead.
    public var created: Bool
    /// The config's entity tag after the save.
    public var etag: String
}

/// What an operator asks to store as a new version.
public struct NewConfigVersion: Sendable {
    /// File name to file.
    public var files: [String: ConfigFile]
    /// Why (optional).
    public var message: String?
    /// Store without publishing (errors then do not block).
    public var draft: Bool
    /// Who asks.
    public var author: String
    /// The `If-Match` header, when sent: the save happens only if it names the newest version.
    public var ifMatch: String?

    /// A request.
    public init(
        files: [String: ConfigFile], message: String? = nil, draft: Bool = false, author: String = "api",
        ifMatch: String? = nil
    ) {
        self.files = files
        self.message = message
        self.draft = draft
        self.author = author
        self.ifMatch = ifMatch
    }
}

/// A rendering of a version's pipeline graph.
public enum ConfigGraphFormat: Sendable {
    /// An SVG picture.
    case svg
    /// The graph's nodes and edges as JSON.
    case json
}
