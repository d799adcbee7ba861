import ArgumentParser
import Fleet
import Foundation

extension OperatorRole: ExpressibleByArgument {}

/// `ampora token`: credentials operators and agents present.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage operator access tokens and agent enrollment tokens.",
        subcommands: [Create.self, List.self, Revoke.self])

    /// `ampora token create --role R | --enrollment`: prints a new token, once.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an operator access token or an enrollment token and print it (only its hash is stored).",
            discussion: """
                With --role, a personal access token for the operator API: send it as \
                `Authorization: Bearer TOKEN`. A viewer reads, an operator also changes configs, \
                rollouts, groups and agents, an admin also manages tokens and identities.

                With --enrollment, a token agents send as `Authorization: Bearer TOKEN` on the \
                WebSocket upgrade or the HTTP POST; a server started with --require-enrollment \
                refuses agents without a valid one (401).

                Only the token is printed on standard output, so scripts can capture it. A running \
                server picks up a new token, and a revocation, within two seconds.
                """)

        @Option(name: .customLong("role"), help: "An operator access token with this role: admin, operator or viewer.")
        var role: OperatorRole?

        @Option(name: .customLong("name"), help: "What the access token is for, as listed (default: its role).")
        var name: String?

        @Flag(name: .customLong("enrollment"), help: "An enrollment token for agents.")
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
            guard enrollment != (role != nil) else {
                throw ValidationError("say which kind of token: --role admin|operator|viewer, or --enrollment")
            }
            if role != nil, uses != nil || !labels.isEmpty {
                throw ValidationError("--uses and --label are for enrollment tokens")
            }
            if let name, !(1...200).contains(name.count) { throw ValidationError("--name must be 1 to 200 characters") }
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
                if let role {
                    print(
                        try OperatorTokenStore.create(
                            in: store, role: role, name: name ?? "\(role.rawValue) token",
                            expiresAfterMilliseconds: expires.flatMap(Self.milliseconds)))
                    return
                }
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

extension Token {
    /// `ampora token list`: the operator access tokens, never the tokens themselves.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List operator access tokens: id, name, role, prefix, created, expires, last use, revoked.")

        @Option(
            name: .customLong("database"),
            help: "sqlite:PATH or postgres://… (default AMPORA_DATABASE or sqlite:./ampora.db).")
        var database: String?

        func run() throws {
            do {
                let store = try FleetStores.open(Ampora.databaseURL(database))
                defer { store.close() }
                let tokens = try OperatorTokenStore.list(in: store)
                func time(_ ms: Int64?) -> String {
                    guard let ms else { return "-" }
                    return Date(timeIntervalSince1970: Double(ms) / 1000).ISO8601Format()
                }
                let rows =
                    [["ID", "NAME", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"]]
                    + tokens.map {
                        [
                            $0.id, $0.name, $0.role.rawValue, $0.prefix, time($0.createdAt), time($0.expiresAt),
                            time($0.lastUsedAt), time($0.revokedAt),
                        ]
                    }
                let widths = (0..<8).map { column in rows.map { $0[column].count }.max() ?? 0 }
                for row in rows {
                    let cells = row.enumerated().map { i, cell in
                        cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    }
                    print(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
                }
            } catch {
                FileHandle.standardError.write(Data("ampora: token list: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    /// `ampora token revoke ID`.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an operator access token by its id (see `ampora token list`).",
            discussion: "A running server refuses it within two seconds; through the API, at once.")

        @Argument(help: "The token's id.")
        var id: String

        @Option(
            name: .customLong("database"),
            help: "sqlite:PATH or postgres://… (default AMPORA_DATABASE or sqlite:./ampora.db).")
        var database: String?

        func run() throws {
            do {
                let store = try FleetStores.open(Ampora.databaseURL(database))
                defer { store.close() }
                guard try OperatorTokenStore.revoke(in: store, id: id) else {
                    FileHandle.standardError.write(Data("ampora: token revoke: no live token has the id \(id)\n".utf8))
                    throw ExitCode(1)
                }
                print("revoked \(id)")
            } catch let exit as ExitCode {
                throw exit
            } catch {
                FileHandle.standardError.write(Data("ampora: token revoke: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
