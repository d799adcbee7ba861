import Core
import Foundation
import Testing

@testable import Fleet

/// Collector configs the Toolkit accepts (or refuses on purpose), for tests that publish.
enum TestConfigs {
    /// A config with no error: an OTLP receiver into the debug exporter on `signal`.
    static func collector(_ signal: String = "traces") -> [UInt8] {
        Array(
            """
            receivers:
              otlp:
                protocols:
                  grpc: {}
            exporters:
              debug: {}
            service:
              pipelines:
                \(signal):
                  receivers: [otlp]
                  exporters: [debug]

            """.utf8)
    }

    /// The receivers half of `collector()`: an error alone (no pipeline), fine merged.
    static let receivers = Array("receivers:\n  otlp:\n    protocols:\n      grpc: {}\n".utf8)
    /// The rest of `collector()`: an error alone (an undeclared receiver), fine merged after `receivers`.
    static let pipelines = Array(
        "exporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"
            .utf8)
    /// A YAML syntax error.
    static let broken = Array("receivers:\n  otlp: [\n".utf8)
}

@Suite struct ConfigVersionTests {
    /// A fleet on a fresh database whose clock reads `now` (milliseconds).
    static func fleet(_ backend: String = "sqlite", now: Box<Int64> = Box(1_000)) throws -> (FleetService, String) {
        let url = try TestDatabases.freshURL(backend)
        return (try fleet(url: url, now: now), url)
    }

    static func fleet(url: String, now: Box<Int64> = Box(1_000)) throws -> FleetService {
        var options = FleetOptions(instance: "test")
        options.clock = { now.value }
        return try FleetService(store: try FleetStores.open(url), options: options)
    }

    static func files(_ pairs: (String, [UInt8])...) -> [String: ConfigFile] {
        Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, ConfigFile(body: $0.1)) })
    }

    @Test(arguments: TestDatabases.backends)
    func everyChangeIsANewVersionAndTheSameContentIsNot(_ backend: String) throws {
        let now = Box<Int64>(1_000)
        let (fleet, url) = try Self.fleet(backend, now: now)
        let first = try fleet.saveConfigVersion(
            name: "base",
            NewConfigVersion(
                files: Self.files(("otel.yaml", TestConfigs.collector())), message: "first", author: "alice"))
        #expect(first.created && first.info.version == 1 && first.etag == "\"v1\"")
        #expect(first.info.current && !first.info.draft && first.info.author == "alice")
        now.update { $0 = 2_000 }
        let same = try fleet.saveConfigVersion(
            name: "base", NewConfigVersion(files: Self.files(("otel.yaml", TestConfigs.collector())), author: "bob"))
        #expect(!same.created && same.info.version == 1 && same.info.author == "alice", "the existing version answers")
        let second = try fleet.saveConfigVersion(
            name: "base",
            NewConfigVersion(files: Self.files(("otel.yaml", TestConfigs.collector("logs"))), message: "logs too"))
        #expect(second.created && second.info.version == 2 && second.info.hash != first.info.hash)
        // The file name is part of the content.
        let renamed = try fleet.saveConfigVersion(
            name: "base", NewConfigVersion(files: Self.files(("main.yaml", TestConfigs.collector("logs")))))
        #expect(renamed.created && renamed.info.version == 3)

        let list = try fleet.configVersionList(name: "base")
        #expect(list.items.map(\.version) == [3, 2, 1])
        #expect(list.items.map(\.current) == [true, false, false])
        #expect(list.items.map(\.createdAt) == [2_000, 2_000, 1_000])
        #expect(list.items.map(\.message) == [nil, "logs too", "first"])
        #expect(list.current == 3 && list.etag == "\"v3\"")
        #expect(try fleet.configVersionList(name: "base", limit: 1, before: 3).items.map(\.version) == [2])
        #expect(fleet.listConfigs().map(\.version) == [3])
        let detail = try fleet.configVersion(name: "base", version: 2)
        #expect(detail.files.map(\.name) == ["otel.yaml"])
        #expect(detail.files.first?.file == ConfigFile(body: TestConfigs.collector("logs")))
        #expect(fleet.configETag(name: "base") == "\"v3\"")
        #expect(fleet.configETag(name: "nothing") == nil)
        fleet.close()

        // All of it survives a restart.
        let reopened = try Self.fleet(url: url)
        defer { reopened.close() }
        #expect(try reopened.configVersionList(name: "base").items.map(\.version) == [3, 2, 1])
        #expect(reopened.listConfigs().first?.hash == renamed.info.hash)
    }

    /// PUT's path: one file named "", and the same body twice is one version.
    @Test func putStoresOneFileNamedEmpty() throws {
        let (fleet, _) = try Self.fleet()
        defer { fleet.close() }
        let put = try fleet.putConfig(name: "p", body: TestConfigs.collector(), author: "carol")
        #expect(put.version == 1 && put.updatedAt == 1_000)
        #expect(try fleet.putConfig(name: "p", body: TestConfigs.collector()).version == 1)
        let detail = try fleet.configVersion(name: "p", version: 1)
        #expect(detail.files.map(\.name) == [""])
        #expect(detail.info.author == "carol")
    }

    @Test(arguments: TestDatabases.backends)
    func draftsAreNeverAssignedUntilPublished(_ backend: String) throws {
        let (fleet, url) = try Self.fleet(backend)
        let live = try fleet.putConfig(name: "base", body: TestConfigs.collector())
        let draft = try fleet.saveConfigVersion(
            name: "base", NewConfigVersion(files: Self.files(("", TestConfigs.collector("logs"))), draft: true))
        #expect(draft.created && draft.info.draft && !draft.info.current && draft.info.version == 2)
        #expect(draft.etag == "\"v2\"")
        #expect(fleet.listConfigs().map(\.hash) == [live.hash], "a draft is not the current version")
        #expect(try fleet.assign(config: "base", selector: [:]).hash == live.hash)

        // The same draft again is the same draft.
        let again = try fleet.saveConfigVersion(
            name: "base", NewConfigVersion(files: Self.files(("", TestConfigs.collector("logs"))), draft: true))
        #expect(!again.created && again.info.version == 2 && again.info.draft)

        let published = try fleet.publishConfigVersion(name: "base", version: 2)
        #expect(!published.info.draft && published.info.current && published.info.version == 2)
        #expect(fleet.listConfigs().map(\.hash) == [draft.info.hash])
        #expect(try fleet.assign(config: "base", selector: [:]).hash == draft.info.hash)
        // Publishing the current version again changes nothing; an older one becomes current again.
        #expect(try fleet.publishConfigVersion(name: "base", version: 2).info.current)
        #expect(try fleet.publishConfigVersion(name: "base", version: 1).info.current)
        #expect(fleet.listConfigs().map(\.version) == [1])
        fleet.close()
        let reopened = try Self.fleet(url: url)
        defer { reopened.close() }
        #expect(reopened.listConfigs().map(\.version) == [1])
        #expect(try reopened.configVersionList(name: "base").items.map(\.draft) == [false, false])
    }

    /// Publishing content identical to a waiting draft publishes that draft.
    @Test func publishingTheContentOfADraftPublishesTheDraft() throws {
        let (fleet, _) = try Self.fleet()
        defer { fleet.close() }
        _ = try fleet.putConfig(name: "base", body: TestConfigs.collector())
        _ = try fleet.saveConfigVersion(
            name: "base", NewConfigVersion(files: Self.files(("", TestConfigs.collector("logs"))), draft: true))
        let put = try fleet.putConfig(name: "base", body: TestConfigs.collector("logs"))
        #expect(put.version == 2)
        #expect(try fleet.configVersionList(name: "base").items.map(\.draft) == [false, false])
    }

    @Test(arguments: TestDatabases.backends)
    func errorsBlockPublishingButNotDrafts(_ backend: String) throws {
        let (fleet, _) = try Self.fleet(backend)
        defer { fleet.close() }
        for body in [TestConfigs.broken, TestConfigs.pipelines] {
            let refused = #expect(throws: FleetError.self) {
                try fleet.saveConfigVersion(name: "bad", NewConfigVersion(files: Self.files(("c.yaml", body))))
            }
            #expect(refused?.code == "invalid_config" && refused?.kind == .invalid)
            #expect(refused?.findings?.first?.isError == true, "errors come first")
            #expect(refused?.findings?.allSatisfy { $0.file == "c.yaml" } == true)
        }
        let syntax = #expect(throws: FleetError.self) { try fleet.putConfig(name: "bad", body: TestConfigs.broken) }
        #expect(syntax?.findings?.map(\.rule) == ["yaml-syntax"])
        let undeclared = #expect(throws: FleetError.self) {
            try fleet.putConfig(name: "bad", body: TestConfigs.pipelines)
        }
        #expect(undeclared?.findings?.contains { $0.rule == "undeclared-component" && $0.line == 6 } == true)
        #expect(throws: FleetError.self) { try fleet.configVersionList(name: "bad") }

        let draft = try fleet.saveConfigVersion(
            name: "bad", NewConfigVersion(files: Self.files(("c.yaml", TestConfigs.pipelines)), draft: true))
        #expect(draft.created && draft.info.findings.contains { $0.isError })
        let publish = #expect(throws: FleetError.self) { try fleet.publishConfigVersion(name: "bad", version: 1) }
        #expect(publish?.code == "invalid_config")
        #expect(fleet.listConfigs().isEmpty)
        #expect(try fleet.configVersion(name: "bad", version: 1).info.draft)
        // Graphs and diffs need a config that parses.
        _ = try fleet.saveConfigVersion(
            name: "bad", NewConfigVersion(files: Self.files(("c.yaml", TestConfigs.broken)), draft: true))
        let graph = #expect(throws: FleetError.self) { try fleet.configGraph(name: "bad", version: 2, format: .svg) }
        #expect(graph?.code == "invalid_config")
    }

    @Test func warningsAreStoredWithTheVersion() throws {
        let (fleet, url) = try Self.fleet()
        // Deprecated and unstable components and a missing memory limiter are findings, not errors.
        let saved = try fleet.putConfigVersion(name: "warn", body: TestConfigs.collector())
        #expect(!saved.info.findings.isEmpty && !saved.info.findings.contains { $0.isError })
        #expect(saved.info.findings.contains { $0.rule == "memory-limiter-missing" })
        fleet.close()
        let reopened = try Self.fleet(url: url)
        defer { reopened.close() }
        #expect(try reopened.configVersion(name: "warn", version: 1).info.findings == saved.info.findings)
    }

    @Test func filesAreLintedMergedInNameOrder() throws {
        let (fleet, _) = try Self.fleet()
        defer { fleet.close() }
        let split = try fleet.saveConfigVersion(
            name: "split",
            NewConfigVersion(
                files: Self.files(("20-pipelines.yaml", TestConfigs.pipelines), ("10-r.yaml", TestConfigs.receivers))))
        #expect(split.created)
        #expect(
            try fleet.configVersion(name: "split", version: 1).files.map(\.name) == ["10-r.yaml", "20-pipelines.yaml"])
        // Same meaning as the one-file config: the semantic diff is empty.
        _ = try fleet.putConfig(name: "split", body: TestConfigs.collector())
        #expect(try fleet.configDiff(name: "split", from: 1, to: 2) == "{\"changes\": []}\n")

        // The later file wins a list: a broken list after a good one breaks the config, not before.
        let good = Array("service:\n  pipelines:\n    traces:\n      exporters: [debug]\n".utf8)
        let bad = Array("service:\n  pipelines:\n    traces:\n      exporters: [nowhere]\n".utf8)
        let base = TestConfigs.collector()
        #expect(throws: FleetError.self) {
            try fleet.saveConfigVersion(
                name: "order", NewConfigVersion(files: Self.files(("a.yaml", base), ("b.yaml", good), ("c.yaml", bad))))
        }
        let fine = try fleet.saveConfigVersion(
            name: "order", NewConfigVersion(files: Self.files(("a.yaml", base), ("b.yaml", bad), ("c.yaml", good))))
        #expect(fine.created)
    }

    @Test func diffAndGraphComeFromTheToolkit() throws {
        let (fleet, _) = try Self.fleet()
        defer { fleet.close() }
        _ = try fleet.putConfig(name: "g", body: TestConfigs.collector())
        _ = try fleet.putConfig(name: "g", body: TestConfigs.collector("logs"))
        let diff = try fleet.configDiff(name: "g", from: 1, to: 2)
        #expect(diff.contains("\"kind\": \"pipeline-removed\", \"subject\": \"service.pipelines.traces\""))
        #expect(diff.contains("\"kind\": \"pipeline-added\", \"subject\": \"service.pipelines.logs\""))
        let json = try fleet.configGraph(name: "g", version: 2, format: .json)
        #expect(json.contains("\"receiver/otlp@logs\""))
        #expect(try fleet.configGraph(name: "g", version: 1, format: .svg).hasPrefix("<svg"))
        let missing = #expect(throws: FleetError.self) { try fleet.configDiff(name: "g", from: 1, to: 9) }
        #expect(missing?.kind == .notFound)
    }

    @Test func ifMatchGuardsTheNewestVersion() throws {
        let (fleet, _) = try Self.fleet()
        defer { fleet.close() }
        let absent = #expect(throws: FleetError.self) {
            try fleet.putConfig(name: "m", body: TestConfigs.collector(), ifMatch: "*")
        }
        #expect(absent?.kind == .preconditionFailed)
        _ = try fleet.putConfig(name: "m", body: TestConfigs.collector())
        _ = try fleet.putConfig(name: "m", body: TestConfigs.collector("logs"), ifMatch: "\"v1\"")
        for stale in ["\"v1\"", "W/\"v2\"", "v2", "\"v3\""] {
            let refused = #expect(throws: FleetError.self) {
                try fleet.saveConfigVersion(
                    name: "m",
                    NewConfigVersion(files: Self.files(("", TestConfigs.collector("metrics"))), ifMatch: stale))
            }
            #expect(refused?.kind == .preconditionFailed && refused?.code == "precondition_failed", "\(stale)")
        }
        let stalePublish = #expect(throws: FleetError.self) {
            try fleet.publishConfigVersion(name: "m", version: 1, ifMatch: "\"v1\"")
        }
        #expect(stalePublish?.kind == .preconditionFailed)
        #expect(try fleet.configVersionList(name: "m").items.count == 2, "nothing stored")
        _ = try fleet.putConfig(name: "m", body: TestConfigs.collector("metrics"), ifMatch: "\"v0\", \"v2\"")
        _ = try fleet.putConfig(name: "m", body: TestConfigs.collector(), ifMatch: "*")
        #expect(fleet.configETag(name: "m") == "\"v4\"")
    }

    @Test func boundsAreCheckedBeforeAnythingIsStored() throws {
        var options = FleetOptions(instance: "test")
        options.maxConfigBytes = 1000
        options.maxConfigFiles = 3
        let fleet = try FleetService(
            store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
        defer { fleet.close() }
        func refusal(_ files: [String: ConfigFile], author: String = "api", message: String? = nil) -> FleetError? {
            #expect(throws: FleetError.self) {
                try fleet.saveConfigVersion(name: "b", NewConfigVersion(files: files, message: message, author: author))
            }
        }
        let many = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("f\($0)", ConfigFile(body: [65])) })
        #expect(refusal(many)?.code == "too_many_files")
        #expect(refusal([:])?.code == "empty_config")
        let big = [
            "a": ConfigFile(body: Array(repeating: 32, count: 600)),
            "b": ConfigFile(body: Array(repeating: 32, count: 401)),
        ]
        let tooLarge = refusal(big)
        #expect(tooLarge?.kind == .tooLarge && tooLarge?.code == "config_too_large")
        #expect(refusal(["bad\u{0}name": ConfigFile(body: TestConfigs.receivers)])?.code == "invalid_file_name")
        #expect(refusal([String(repeating: "n", count: 256): ConfigFile(body: [65])])?.code == "invalid_file_name")
        #expect(refusal(["a": ConfigFile(body: [0xff, 0xfe])])?.code == "invalid_utf8")
        #expect(refusal(["a": ConfigFile(body: [65], contentType: "text/\u{1}")])?.code == "invalid_content_type")
        #expect(refusal(["a": ConfigFile(body: [65])], author: "a\nb")?.code == "invalid_author")
        #expect(
            refusal(["a": ConfigFile(body: [65])], message: String(repeating: "m", count: 4097))?.code
                == "invalid_message")
        #expect(throws: FleetError.self) {
            try fleet.saveConfigVersion(name: "../x", NewConfigVersion(files: ["a": ConfigFile(body: [65])]))
        }
        #expect(fleet.configETag(name: "b") == nil)
    }

    /// While the database refuses writes, nothing is acknowledged and memory does not move.
    @Test func aFailedWriteLeavesNothingBehind() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let store = OutageStore(try FleetStores.open(url))
        let fleet = try FleetService(store: store, options: FleetOptions(instance: "test"))
        defer { fleet.close() }
        let live = try fleet.putConfig(name: "o", body: TestConfigs.collector())
        store.isDown = true
        for draft in [false, true] {
            let refused = #expect(throws: FleetError.self) {
                try fleet.saveConfigVersion(
                    name: "o", NewConfigVersion(files: Self.files(("", TestConfigs.collector("logs"))), draft: draft))
            }
            #expect(refused?.kind == .unavailable)
        }
        let publish = #expect(throws: FleetError.self) {
            try fleet.saveConfigVersion(
                name: "o2", NewConfigVersion(files: Self.files(("", TestConfigs.collector()))))
        }
        #expect(publish?.code == "database_unavailable")
        store.isDown = false
        #expect(fleet.listConfigs().map(\.hash) == [live.hash])
        #expect(try fleet.configVersionList(name: "o").items.map(\.version) == [1])
        #expect(throws: FleetError.self) { try fleet.configVersionList(name: "o2") }
        #expect(try store.blobCount(kind: "config") == 1)
    }
}
