import ArgumentParser
import Fleet
import Foundation

/// `ampora token`: credentials agents present.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage enrollment tokens.", subcommands: [Create.self])

    /// `ampora token create --enrollment`: prints a new token, once.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an enrollment token and print it (only its hash is stored).",
            discussion: """
                Agents send the token as `Authorization: Bearer TOKEN` on the WebSocket upgrade or \
                the HTTP POST; a server started with --require-enrollment refuses agents without a \
                valid one (401). A running server picks up a new token within a few seconds.
                """)

        @Flag(name: .customLong("enrollment"), help: "An enrollment token (the only kind today).")
        var enrollment = false

        @Option(name: .customLong("uses"), help: "New agents the token may enroll (default: any number).")
        var uses: Int64?

        @Option(
            name: .customLong("expires"),
            help: "Lifetime: a number with s, m, h or d (24h, 7d); default: never expires.")
        var expires: String?

        @Option(name: .customLong("label"), help: "A label k=v given to agents enrolled with the token (repeatable).")
        var labels: [String] = []

        @Option(
            name: .customLong("database"),
            help: "sqlite:PATH or postgres://… (default AMPORA_DATABASE or sqlite:./ampora.db).")
        var database: String?

        func validate() throws {
            guard enrollment else { throw ValidationError("say which kind of token: --enrollment") }
            if let uses, uses < 1 { throw ValidationError("--uses must be at least 1") }
            if let expires, Self.milliseconds(expires) == nil {
                throw ValidationError("--expires \(expires): use a number with s, m, h or d, such as 24h")
            }
            for label in labels where !label.contains("=") || label.hasPrefix("=") {
                throw ValidationError("--label \(label): use key=value")
            }
        }

        func run() throws {
            let url = Ampora.databaseURL(database)
            var map: [String: String] = [:]
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                map[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            do {
                let store = try FleetStores.open(url)
                defer { store.close() }
                let token = try EnrollmentTokens.create(
                    in: store, uses: uses, expiresAfterMilliseconds: expires.flatMap(Self.milliseconds), labels: map)
                print(token)
            } catch {
                FileHandle.standardError.write(Data("ampora: token create: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }

        /// `90s`, `15m`, `24h`, `7d` in milliseconds.
        static func milliseconds(_ text: String) -> Int64? {
            guard let unit = text.last, let value = Int64(text.dropLast()), value > 0 else { return nil }
            let scale: Int64? =
                switch unit {
                case "s": 1000
                case "m": 60_000
                case "h": 3_600_000
                case "d": 86_400_000
                default: nil
                }
            return scale.map { value * $0 }
        }
    }
}
