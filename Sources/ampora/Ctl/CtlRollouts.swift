import ArgumentParser
import Foundation
import Synchronization

struct CtlRollouts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollouts", abstract: "Create, follow and steer rollouts.",
        subcommands: [List.self, Show.self, Create.self, Act.self, Watch.self])

    /// The columns of a rollout in a table, and its progress line.
    static func row(_ r: [String: Any]) -> [String] {
        let counts = r["counts"] as? [String: Any] ?? [:]
        return [
            Render.cell(r["id"]), Render.cell(r["config"]), Render.cell(r["version"]), Render.cell(r["state"]),
            "\(Render.cell(r["stage"]))/\(Render.cell(r["stages"]))",
            "\(Render.cell(counts["applied"]))/\(Render.cell(counts["targets"]))", Render.cell(counts["failed"]),
            Render.cell(r["reason"]),
        ]
    }

    static let header = ["ID", "CONFIG", "VERSION", "STATE", "STAGE", "APPLIED", "FAILED", "REASON"]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List rollouts, newest first.")
        @OptionGroup var options: CtlOptions

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("GET", "/api/v1/rollouts").json
                options.print(answer) {
                    let items = (answer as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return Render.table(CtlRollouts.header, items.map(CtlRollouts.row))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one rollout with its counts.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The rollout's id.") var id: String

        func run() async throws {
            let client = try options.client()
            try await Ctl.run {
                let answer = try await client.send("GET", "/api/v1/rollouts/\(Ctl.segment(id))").json
                options.print(answer) {
                    Render.table(CtlRollouts.header, [CtlRollouts.row(answer as? [String: Any] ?? [:])])
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll a published config version out in stages.",
            discussion: """
                Targets: --selector key=value (repeatable, AND), --group NAME, or --uid UID (repeatable). \
                Stages, in order: --stage 1% (a percentage of all targets, counted from the start), \
                --stage 50 (a count), --stage ring=canary (a selector; key=value,key=value). \
                Without stages, one stage of everything.
                """)
        @OptionGroup var options: CtlOptions
        @Option(help: "The config's name.") var config: String
        @Option(help: "The published version to roll out.") var version: Int
        @Option(help: "Target agents with this attribute or label:KEY (key=value, repeatable).")
        var selector: [String] = []
        @Option(help: "Target a group's agents.") var group: String?
        @Option(help: "Target this agent (repeatable).") var uid: [String] = []
        @Option(help: "A stage: P%, a count, or a selector (repeatable, in order).") var stage: [String] = []
        @Option(help: "Seconds to wait after each stage before the next.") var soak: Int?
        @Option(name: .customLong("max-failed"), help: "Gate: failed agents per stage, N or P%.") var maxFailed: String?
        @Option(name: .customLong("max-unhealthy"), help: "Gate: unhealthy after applying, N or P%.")
        var maxUnhealthy: String?
        @Option(name: .customLong("max-stalled"), help: "Gate: stalled agents per stage, N or P%.")
        var maxStalled: String?
        @Flag(help: "Follow it until it completes, pauses or ends (see `rollouts watch`).") var watch = false

        func validate() throws {
            let targets = (selector.isEmpty ? 0 : 1) + (group == nil ? 0 : 1) + (uid.isEmpty ? 0 : 1)
            guard targets == 1 else { throw ValidationError("give one target: --selector, --group or --uid") }
        }

        func run() async throws {
            let client = try options.client()
            var body: [String: Any] = ["config": config, "version": version]
            if let group {
                body["target"] = ["group": group]
            } else if !uid.isEmpty {
                body["target"] = ["uids": uid]
            } else {
                body["target"] = ["selector": try Ctl.pairs(selector, "--selector")]
            }
            if !stage.isEmpty { body["stages"] = try stage.map(Self.stage) }
            if let soak { body["soakSeconds"] = soak }
            var gates: [String: Any] = [:]
            for (key, value) in [("maxFailed", maxFailed), ("maxUnhealthy", maxUnhealthy), ("maxStalled", maxStalled)] {
                guard let value else { continue }
                gates[key] = Int(value).map { $0 as Any } ?? value
            }
            if !gates.isEmpty { body["gates"] = gates }
            try await Ctl.run {
                let made = try await client.send("POST", "/api/v1/rollouts", json: body).json as? [String: Any] ?? [:]
                if watch, let id = made["id"] as? String {
                    try await Watch.follow(id, client: client, options: options)
                } else {
                    options.print(made) { Render.table(CtlRollouts.header, [CtlRollouts.row(made)]) }
                }
            }
        }

        static func stage(_ text: String) throws -> [String: Any] {
            if text.hasSuffix("%"), let percent = Double(text.dropLast()), percent > 0, percent <= 100 {
                return ["percent": percent]
            }
            if let count = Int(text), count > 0 { return ["count": count] }
            let pairs = try Ctl.pairs(text.split(separator: ",").map(String.init), "--stage")
            guard !pairs.isEmpty else { throw ValidationError("--stage \(text): use P%, a count or key=value") }
            return ["selector": pairs]
        }
    }

    struct Act: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "act", abstract: "pause, resume, abort or rollback a rollout.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "pause, resume, abort or rollback.") var action: String
        @Argument(help: "The rollout's id.") var id: String
        @Option(name: .customLong("if-match"), help: "Act only if the rollout's ETag is still this.")
        var ifMatch: String?

        func validate() throws {
            guard ["pause", "resume", "abort", "rollback"].contains(action) else {
                throw ValidationError("\(action): use pause, resume, abort or rollback")
            }
        }

        func run() async throws {
            let client = try options.client()
            let headers = ifMatch.map { ["If-Match": $0.hasPrefix("\"") ? $0 : "\"\($0)\""] } ?? [:]
            try await Ctl.run {
                let answer = try await client.send(
                    "POST", "/api/v1/rollouts/\(Ctl.segment(id))/\(action)", headers: headers
                ).json
                options.print(answer) {
                    Render.table(CtlRollouts.header, [CtlRollouts.row(answer as? [String: Any] ?? [:])])
                }
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a rollout on the event stream with a progress bar.",
            discussion: "Exit 0 when it completes; 1 when it pauses, is aborted or rolled back.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "The rollout's id.") var id: String

        func run() async throws {
            let client = try options.client()
            try await Ctl.run { try await Self.follow(id, client: client, options: options) }
        }

        /// Prints progress until the rollout stops moving; throws when it did not complete.
        static func follow(_ id: String, client: APIClient, options: CtlOptions) async throws {
            let first =
                try await client.send("GET", "/api/v1/rollouts/\(Ctl.segment(id))").json as? [String: Any] ?? [:]
            let bar = ProgressLine(json: options.output != .table)
            let last = Mutex<(state: String, reason: String?)>(Self.outcome(first))
            if bar.show(first) {
                try await client.follow(
                    "/api/v1/events", query: [("rollout", id), ("kind", "rollout.progress")]
                ) { kind, data in
                    guard kind == "rollout.progress",
                        let event = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any],
                        let rollout = event["rollout"] as? [String: Any]
                    else { return true }
                    last.withLock { $0 = Self.outcome(rollout) }
                    return bar.show(rollout)
                }
            }
            bar.end()
            let (state, reason) = last.withLock { $0 }
            guard state == "completed" else {
                throw CtlFailure.failed("rollout \(id) is \(state)" + (reason.map { ": \($0)" } ?? ""))
            }
        }

        private static func outcome(_ rollout: [String: Any]) -> (state: String, reason: String?) {
            (rollout["state"] as? String ?? "", rollout["reason"] as? String)
        }
    }
}

/// One line of progress: redrawn in place on a terminal, one line per change otherwise (or one
/// JSON object per change with `--output json|yaml`).
final class ProgressLine: Sendable {
    private let json: Bool
    private let terminal = isatty(STDOUT_FILENO) != 0
    private let previous = Mutex("")

    init(json: Bool) { self.json = json }

    /// Shows `rollout`; false once it stopped moving (completed, paused or ended).
    func show(_ rollout: [String: Any]) -> Bool {
        let state = rollout["state"] as? String ?? ""
        let line = json ? Render.json(rollout).replacingOccurrences(of: "\n", with: "") : Self.text(rollout)
        let changed = previous.withLock { last in
            defer { last = line }
            return last != line
        }
        if changed {
            let out = terminal && !json ? "\r\u{1B}[2K" + line : line + "\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
        return state == "running" || state == "pending"
    }

    func end() {
        if terminal && !json { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    static func text(_ r: [String: Any]) -> String {
        let counts = r["counts"] as? [String: Any] ?? [:]
        func n(_ key: String) -> Int { (counts[key] as? Int) ?? 0 }
        let targets = max(n("targets"), 0)
        let done = n("applied")
        let width = 30
        let filled = targets == 0 ? width : min(width, done * width / targets)
        let percent = targets == 0 ? 100 : done * 100 / targets
        let stage = "stage \(r["stage"] as? Int ?? 0)/\(r["stages"] as? Int ?? 0)"
        var line =
            "[\(String(repeating: "#", count: filled))\(String(repeating: "-", count: width - filled))] \(percent)% "
            + "\(done)/\(targets) applied, \(n("applying")) applying, \(n("failed")) failed, \(n("stalled")) stalled, "
            + "\(stage), \(r["state"] as? String ?? "?")"
        if let reason = r["reason"] as? String { line += ": \(reason)" }
        return line
    }
}
