import ArgumentParser
import Foundation

/// `ampora ctl`: the operator API from a terminal or a script.
struct Ctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a running server through its operator API.",
        discussion: """
            The server is --server, else AMPORA_SERVER, else `server = URL` in the settings file, \
            else http://127.0.0.1:8080. The token is --token, else AMPORA_TOKEN, else \
            `token = TOKEN` in the settings file (--settings, default ~/.config/ampora/ctl.conf).

            Exit codes: 0 done; 1 the server refused or failed (its message is printed); 2 no \
            valid token, or a role too weak; 3 the server cannot be reached; 64 bad usage. \
            `rollouts watch` exits 0 when the rollout completes and 1 when it pauses or ends \
            otherwise.
            """,
        subcommands: [CtlAgents.self, CtlConfigs.self, CtlRollouts.self, CtlTokens.self, CtlAudit.self])
}

/// Where the API is, who is asking, and how to print: shared by every `ctl` command.
struct CtlOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "The operator API's base URL.")
    var server: String?

    @Option(name: .customLong("token"), help: "A personal access token (ampora token create).")
    var token: String?

    @Option(
        name: .customLong("settings"),
        help: "A file of `server = URL` and `token = TOKEN` lines (default ~/.config/ampora/ctl.conf).")
    var settings: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "table, json or yaml.")
    var output: OutputFormat = .table

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let file = try settingsFile()
        let server = server ?? environment["AMPORA_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? file["server"]
        let token = token ?? environment["AMPORA_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? file["token"]
        let text = server ?? "http://127.0.0.1:8080"
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ValidationError("--server \(text): use http://HOST:PORT or https://HOST:PORT")
        }
        return APIClient(base: url, token: token)
    }

    private func settingsFile() throws -> [String: String] {
        let path =
            settings
            ?? (ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.config/ampora/ctl.conf" } ?? "")
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path) else {
            if let settings { throw ValidationError("--settings \(settings): no such file") }
            return [:]
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path): cannot be read")
        }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            out[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// Prints `value` in the chosen format; `table` renders it with `table`.
    func print(_ value: Any, table: () -> String) {
        switch output {
        case .json: Swift.print(Render.json(value))
        case .yaml: Swift.print(Render.yaml(value))
        case .table: Swift.print(table())
        }
    }
}

extension Ctl {
    /// Runs `work`, turning a failure into its message on standard error and its exit code.
    static func run(_ work: () async throws -> Void) async throws {
        do {
            try await work()
        } catch let failure as CtlFailure {
            FileHandle.standardError.write(Data("ampora ctl: \(failure)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }

    /// `key=value` pairs (selectors, attributes) as a dictionary.
    static func pairs(_ items: [String], _ flag: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("\(flag) \(item): use key=value") }
            out[String(parts[0])] = String(parts[1])
        }
        return out
    }

    /// Path segments are sent percent-encoded.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? text
    }
}

// MARK: agents

struct CtlAgents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List, show and command agents.",
        subcommands: [List.self, Show.self, Command.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents, with filters.")
        @OptionGroup var options: CtlOptions
        @Option(help: "Only connected (true) or disconnected (false) agents.") var connected: Bool?
        @Option(name: .customLong("config-state"), help: "Only agents in this config state (FAILED, STALLED, …).")
        var configState: String?
        @Option(name: .customLong("attr"), help: "Only agents with this attribute, key=value (repeatable).")
        var attributes: [String] = []
        @Option(
            name: .customLong("label"),
            help: "Only agents with this label (from their enrollment token), key=value (repeatable).")
        var labels: [String] = []
        @Option(help: "Only the members of this group.") var group: String?
        @Option(help: "Only agents whose uid or an attribute value contains this text.") var search: String?
        @Option(help: "uid, firstSeen or lastSeen; a leading - for descending (--sort=-lastSeen).") var sort: String?
        @Option(help: "Agents per page, 1–1000.") var limit: Int = 100
        @Flag(help: "Follow every page, not only the first.") var all = false

        func run() async throws {
            let client = try options.client()
            var query: [(String, String)] = [("limit", String(limit))]
            if let connected { query.append(("connected", connected ? "true" : "false")) }
            if let configState { query.append(("configState", configState)) }
            for (key, value) in try Ctl.pairs(attributes, "--attr").sorted(by: { $0.key < $1.key }) {
                query.append(("attr.\(key)", value))
            }
            for (key, value) in try Ctl.pairs(labels, "--label").sorted(by: { $0.key < $1.key }) {
                query.append(("label.\(key)", value))
            }
            for (name, value) in [("group", group), ("search", search), ("sort", sort)] {
                if let value { query.append((name, value)) }
            }
            try await Ctl.run {
                var items: [Any] = []
                var total: Any = 0
                var cursor: String?
                repeat {
                    let page =
                        try await client.send(
                            "GET", "/api/v1/agents", query: query + (cursor.map { [("cursor", $0)] } ?? [])
                        ).json as? [String: Any] ?? [:]
                    items += page["items"] as? [Any] ?? []
                    total = page["total"] ?? 0
                    cursor = page["nextCursor"] as? String
                } while all && cursor != nil
                options.print(["items": items, "total": total]) {
                    let rows = items.compactMap { $0 as? [String: Any] }.map { a in
                        let attributes = a["attributes"] as? [String: Any] ?? [:]
                        return [
                            Render.cell(a["instanceUid"]), Render.cell(attributes["service.name"]),
                            Render.cell(a["connected"]), Render.cell(a["healthy"]), Render.cell(a["configState"]),
                            Render.cell(a["lastSeen"]),
                        ]
                    }
                    return Render.table(["UID", "SERVICE", "CONNECTED", "HEALTHY", "CONFIG", "LAST SEEN"], rows)
                        + "\n\(rows.count) of \(Render.cell(total)) agents"
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one agent.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The agent's instance uid.") var uid: String

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let agent = try await client.send("GET", "/api/v1/agents/\(Ctl.segment(uid))").json
                options.print(agent) {
                    var shown = agent as? [String: Any] ?? [:]
                    for key in ["description", "history", "health", "packageStatuses", "customCapabilities"] {
                        shown[key] = nil
                    }
                    return Render.fields(shown)
                }
            }
        }
    }

    struct Command: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "command",
            abstract: "Send a command: restart, report-full-state, reconcile or disconnect.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "restart, report-full-state, reconcile or disconnect.") var command: String
        @Argument(help: "The agent's instance uid.") var uid: String

        func validate() throws {
            guard ["restart", "report-full-state", "reconcile", "disconnect"].contains(command) else {
                throw ValidationError("\(command): use restart, report-full-state, reconcile or disconnect")
            }
        }

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("POST", "/api/v1/agents/\(Ctl.segment(uid))/\(command)")
                options.print(answer.json) { "\(command): accepted (\(answer.status))" }
            }
        }
    }
}

// MARK: configs

struct CtlConfigs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configs", abstract: "List configs and their versions, push a new version.",
        subcommands: [List.self, Versions.self, Push.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List configs and their current versions.")
        @OptionGroup var options: CtlOptions

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("GET", "/api/v1/configs").json
                options.print(answer) {
                    let items = (answer as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return Render.table(
                        ["NAME", "VERSION", "HASH", "UPDATED"],
                        items.map {
                            [
                                Render.cell($0["name"]), Render.cell($0["version"]),
                                String(Render.cell($0["hash"]).prefix(12)), Render.cell($0["updatedAt"]),
                            ]
                        })
                }
            }
        }
    }

    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the versions of a config, newest first.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The config's name.") var name: String

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("GET", "/api/v1/configs/\(Ctl.segment(name))/versions").json
                options.print(answer) {
                    let items = (answer as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return Render.table(
                        ["VERSION", "CURRENT", "DRAFT", "AUTHOR", "CREATED", "FINDINGS", "MESSAGE"],
                        items.map {
                            [
                                Render.cell($0["version"]), Render.cell($0["current"]), Render.cell($0["draft"]),
                                Render.cell($0["author"]), Render.cell($0["createdAt"]),
                                Render.cell($0["findingsCount"]), Render.cell($0["message"]),
                            ]
                        })
                }
            }
        }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new version of a config from files (merged in file-name order).",
            discussion: "Lint errors refuse publishing: they are printed and the exit code is 1.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The config's name.") var name: String
        @Argument(help: "YAML files; each is stored under its file name.") var files: [String]
        @Option(help: "Why this version.") var message: String?
        @Flag(help: "Keep it as a draft (not published, errors allowed).") var draft = false

        func run() async throws {
            let client = try options.client()
            var map: [String: Any] = [:]
            for path in files {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ValidationError("\(path): cannot be read")
                }
                map[(path as NSString).lastPathComponent] = [
                    "body": String(decoding: data, as: UTF8.self), "contentType": "text/yaml",
                ]
            }
            var body: [String: Any] = ["files": map, "draft": draft]
            if let message { body["message"] = message }
            try await Ctl.run {
                do {
                    let answer = try await client.send(
                        "POST", "/api/v1/configs/\(Ctl.segment(name))/versions", json: body
                    ).json
                    options.print(answer) {
                        let made = answer as? [String: Any] ?? [:]
                        let findings = made["findings"] as? [[String: Any]] ?? []
                        return "\(name) v\(Render.cell(made["version"])) \(Render.cell(made["hash"]))"
                            + (findings.isEmpty ? "" : "\n" + Self.findings(findings))
                    }
                } catch CtlFailure.refused(let status, "invalid_config", let message) {
                    FileHandle.standardError.write(Data("ampora ctl: \(status) invalid_config: \(message)\n".utf8))
                    throw CtlFailure.failed("the config was not published")
                }
            }
        }

        static func findings(_ items: [[String: Any]]) -> String {
            items.map {
                "\(Render.cell($0["file"])):\(Render.cell($0["line"])): \(Render.cell($0["severity"])) "
                    + "\(Render.cell($0["rule"])): \(Render.cell($0["message"]))"
            }.joined(separator: "\n")
        }
    }
}

// MARK: tokens and audit

struct CtlTokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Manage personal access tokens (admin).",
        subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List access tokens (never the secrets).")
        @OptionGroup var options: CtlOptions

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("GET", "/api/v1/access-tokens").json
                options.print(answer) {
                    let items = (answer as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return Render.table(
                        ["ID", "NAME", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
                        items.map { t in
                            ["id", "name", "role", "prefix", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"].map {
                                Render.cell(t[$0])
                            }
                        })
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an access token; prints only the token (shown once).")
        @OptionGroup var options: CtlOptions
        @Option(help: "admin, operator or viewer.") var role: String
        @Option(help: "What it is for.") var name: String?
        @Option(help: "Lifetime in seconds (default: never expires).") var expires: Int?

        func run() async throws {
            let client = try options.client()
            var body: [String: Any] = ["role": role]
            if let name { body["name"] = name }
            if let expires { body["expiresInSeconds"] = expires }
            try await Ctl.run {
                let answer = try await client.send("POST", "/api/v1/access-tokens", json: body).json
                options.print(answer) { Render.cell((answer as? [String: Any])?["token"]) }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an access token by id, at once.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The token's id.") var id: String

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                _ = try await client.send("DELETE", "/api/v1/access-tokens/\(Ctl.segment(id))")
                options.print(["revoked": id]) { "revoked \(id)" }
            }
        }
    }
}

struct CtlAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read the audit trail, newest first.")
    @OptionGroup var options: CtlOptions
    @Option(help: "Only this actor (a token's name).") var actor: String?
    @Option(help: "Only this action (config.put, rollout.create, login, …).") var action: String?
    @Option(help: "Only targets starting with this path.") var target: String?
    @Option(help: "Only ok, denied or failed.") var outcome: String?
    @Option(help: "Only entries since this RFC 3339 time.") var since: String?
    @Option(help: "Entries to show, 1–1000.") var limit: Int = 50

    func run() async throws {
        let client = try options.client()
        var query: [(String, String)] = [("limit", String(limit))]
        for (key, value) in [("actor", actor), ("action", action), ("target", target), ("outcome", outcome)] {
            if let value { query.append((key, value)) }
        }
        if let since { query.append(("since", since)) }
        try await Ctl.run {
            let answer = try await client.send("GET", "/api/v1/audit", query: query).json
            options.print(answer) {
                let items = (answer as? [String: Any])?["items"] as? [[String: Any]] ?? []
                return Render.table(
                    ["TIME", "ACTOR", "ROLE", "ACTION", "TARGET", "OUTCOME", "STATUS", "SOURCE"],
                    items.map { e in
                        ["time", "actor", "role", "action", "target", "outcome", "status", "source"].map {
                            Render.cell(e[$0])
                        }
                    })
            }
        }
    }
}
