import Foundation

/// `POST /api/v1/configs/{name}/versions`, read and checked (the fleet holds the files to its
/// size limit and validates them).
public struct ConfigVersionRequest: Sendable, Equatable {
    /// File name → body and content type.
    public var files: [String: ConfigFile]
    /// What changed, in the author's words.
    public var message: String?
    /// A draft is stored, not published.
    public var draft: Bool
}

/// `POST /api/v1/assignments`, read and checked.
public struct AssignmentRequest: Sendable, Equatable {
    /// The config's name.
    public var config: String
    /// Which agents, by attributes.
    public var selector: [String: String]
    /// Which agents, by uid.
    public var uids: [String]
}

extension OperatorRequest {
    /// `{"files": {NAME: {"body", "contentType"}}, "message", "draft"}`.
    public static func configVersion(_ bytes: [UInt8]) throws(BodyError) -> ConfigVersionRequest {
        let object = try object(bytes, allowed: ["files", "message", "draft"])
        guard let rawFiles = object["files"] as? [String: Any] else {
            throw .field("files must be an object of file names to {\"body\", \"contentType\"}")
        }
        var files: [String: ConfigFile] = [:]
        for (file, value) in rawFiles.sorted(by: { $0.key < $1.key }) {
            guard let entry = value as? [String: Any] else { throw .field("files.\(file) must be an object") }
            if let unknown = entry.keys.sorted().first(where: { $0 != "body" && $0 != "contentType" }) {
                throw .field("unknown field files.\(file).\(unknown)")
            }
            guard let text = entry["body"] as? String else { throw .field("files.\(file).body must be a string") }
            var contentType = "text/yaml"
            if let raw = entry["contentType"] {
                guard let type = raw as? String else { throw .field("files.\(file).contentType must be a string") }
                contentType = type
            }
            files[file] = ConfigFile(body: Array(text.utf8), contentType: contentType)
        }
        var message: String?
        if let raw = object["message"], !(raw is NSNull) {
            guard let text = raw as? String else { throw .field("message must be a string") }
            message = text
        }
        var draft = false
        if let raw = object["draft"] {
            guard let flag = raw as? Bool else { throw .field("draft must be true or false") }
            draft = flag
        }
        return ConfigVersionRequest(files: files, message: message, draft: draft)
    }

    /// `{"config", "selector", "uids"}`.
    public static func assignment(_ bytes: [UInt8]) throws(BodyError) -> AssignmentRequest {
        let object = try object(bytes, allowed: ["config", "selector", "uids"])
        guard let config = object["config"] as? String, !config.isEmpty else {
            throw .field("config (a config name) is required")
        }
        var selector: [String: String] = [:]
        if let raw = object["selector"] {
            guard raw is [String: Any] else { throw .field("selector must be an object of attribute names to strings") }
            selector = try strings(raw, "selector")
        }
        var uids: [String] = []
        if let raw = object["uids"] {
            guard let list = raw as? [String] else { throw .field("uids must be an array of UUID strings") }
            uids = list
        }
        return AssignmentRequest(config: config, selector: selector, uids: uids)
    }
}
