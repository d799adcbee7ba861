import Foundation
import Testing

@testable import Toolkit

@Suite struct LoaderTests {
    @Test func mergeMapsDeeplyAndReplaceScalarsAndLists() throws {
        let a = SourceText(
            name: "a.yaml", text: "receivers:\n  otlp:\n    protocols:\n      grpc:\nservice:\n  extensions: [x, y]\n")
        let b = SourceText(
            name: "b.yaml", text: "receivers:\n  otlp:\n    protocols:\n      http:\nservice:\n  extensions: [z]\n")
        let root = try #require(Loader.unit([a, b]).root)
        let protocols = root["receivers"]?["otlp"]?["protocols"]?.pairs?.map(\.key)
        #expect(protocols == ["grpc", "http"])
        #expect(root["service"]?["extensions"]?.items?.compactMap(\.scalar) == ["z"])
        // Each value keeps the file it came from.
        #expect(root["receivers"]?["otlp"]?["protocols"]?.pair("http")?.keyPosition.file == "b.yaml")
    }

    @Test func directoriesAreRecursiveAndEachFileStandsAlone() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ampora-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(TestSupport.base.utf8).write(to: directory.appendingPathComponent("a.yaml"))
        try Data(TestSupport.base.utf8).write(to: directory.appendingPathComponent("sub/b.yml"))
        try Data("not yaml".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        let input = try Loader.load(paths: [directory.path])
        #expect(
            input.units.map { $0.files.map { URL(fileURLWithPath: $0).lastPathComponent } } == [["a.yaml"], ["b.yml"]])
        let ignored = try Loader.load(paths: [directory.path], ignore: ["*/sub/*"])
        #expect(ignored.units.count == 1)
    }

    @Test func standardInputAndMissingFiles() throws {
        let input = try Loader.load(paths: ["-"]) { TestSupport.base }
        #expect(input.units.count == 1 && input.units[0].files == ["-"])
        #expect(throws: LoadError.self) { try Loader.load(paths: ["/nonexistent/ampora.yaml"]) }
    }

    @Test func configMapLiteralBlockKeepsLinesAndColumns() throws {
        let text = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: otel
            data:
              relay: |
                receivers:
                  otlp:
                    protocols:
                      grpc:
                        endpoint: 0.0.0.0:4317

            """
        let unit = Loader.unit([SourceText(name: "cm.yaml", text: text)])
        let endpoint = try #require(unit.root?["receivers"]?["otlp"]?["protocols"]?["grpc"]?["endpoint"])
        #expect(endpoint.position.line == 11)
        #expect(endpoint.position.column == 23)
    }

    @Test func operatorResourceWithMapConfig() throws {
        let text = """
            apiVersion: opentelemetry.io/v1beta1
            kind: OpenTelemetryCollector
            metadata:
              name: c
            spec:
              config:
                receivers:
                  otlp:
                    protocols:
                      grpc:

            """
        let unit = Loader.unit([SourceText(name: "cr.yaml", text: text)])
        #expect(unit.root?["receivers"]?.pair("otlp")?.keyPosition.line == 8)
    }

    @Test func anchorsAndMergeKeysAreExpanded() throws {
        let text = """
            x-common: &common
              timeout: 5s
              compression: gzip
            exporters:
              otlp_grpc:
                <<: *common
                compression: zstd
                endpoint: a:4317

            """
        let root = try #require(Loader.unit([SourceText(name: "m.yaml", text: text)]).root)
        let exporter = try #require(root["exporters"]?["otlp_grpc"])
        #expect(exporter["timeout"]?.scalar == "5s")
        #expect(exporter["compression"]?.scalar == "zstd")
    }

    @Test func syntaxErrorsAreFindingsWithAPosition() {
        let findings = TestSupport.lint("receivers:\n  otlp: [\n", name: "bad.yaml")
        #expect(findings.count == 1)
        #expect(findings.first?.rule == .yamlSyntax)
        #expect((findings.first?.position.line ?? 0) >= 2)
    }

    @Test func aliasBombsAreRefusedNotExpanded() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            text +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        let findings = TestSupport.lint(text)
        #expect(findings.map(\.rule) == [.yamlSyntax])
    }

    /// An alias used as a key was hashed through its whole expansion by the YAML library's
    /// duplicate-key check (34 s for this input, found by FuzzLint) before any budget applied.
    @Test func aliasKeysAreRefusedBeforeTheyAreHashed() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...7 {
            text +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        text += "a8: &a8 [*a7: &a7 [*a6, *a6, *a6, *a6, *a7, *a7, *a7, *a7]]\n"
        let findings = TestSupport.lint(text)
        #expect(findings.map(\.rule) == [.yamlSyntax])
        // Refused by the check that reads keys before the library hashes them, not by a budget.
        #expect(findings.first?.message.contains("alias *a7 used as a mapping key") == true)
        #expect(findings.first?.position.line == 9)
        // Broken after the alias key: refused with the syntax error, never hashed first.
        let unbalanced = String(text.dropLast(2)) + "\n"
        #expect(TestSupport.lint(unbalanced).map(\.rule) == [.yamlSyntax])
        // A syntax error in text with aliases is reported where the same text with plain
        // scalars of the same length in place of the aliases has it.
        for broken in ["a: &a x\nb: [*a, *a, *a\n", "a: &a x\nb: {*a , k: *a}: }\n", "a: &a x\nb: *a *a\nc: ]\n"] {
            let plain = broken.replacingOccurrences(of: "*a", with: "xa")
            let expected = TestSupport.lint(plain).first { $0.rule == .yamlSyntax }?.position
            let found = TestSupport.lint(broken).first { $0.rule == .yamlSyntax }?.position
            #expect(expected != nil)
            #expect(found?.line == expected?.line && found?.column == expected?.column, "\(broken)")
        }
        // Aliases as values, merge keys and a star inside quotes or a block stay accepted.
        let fine = """
            base: &base {endpoint: "*: not an alias"}
            receivers:
              otlp:
                <<: *base
                protocols: [*base]
            note: |
              *x: text
            """
        let unit = Loader.unit([SourceText(name: "fine.yaml", text: fine)])
        #expect(unit.root != nil)
    }
}

@Suite struct ReferenceTests {
    @Test func scannerReadsTheCollectorForms() {
        let references = ReferenceScanner.references("${env:A}-${B}-${env:C:-x:y}-${file:/p}-$D-$$E")
        #expect(references.map(\.scheme) == ["env", "env", "env", "file", "env"])
        #expect(references.map(\.name) == ["A", "B", "C", "/p", "D"])
        #expect(references[2].defaultValue == "x:y")
        #expect(references[4].form == .bare)
    }

    @Test func malformedReferences() {
        let pieces = ReferenceScanner.pieces("x ${env:")
        #expect(pieces.contains { if case .malformed = $0 { return true } else { return false } })
    }

    @Test func resolutionUsesValuesThenDefaultsAndCollapsesEscapes() {
        var environment = Environment(["A": "1"])
        environment.load(envFile: "# comment\nexport B='two'\nC=\"3\"\n")
        let (value, unresolved) = environment.resolve("${env:A}/${B}/${C}/${env:D:-4}/${env:E}/$$F")
        #expect(value == "1/two/3/4/${env:E}/$F")
        #expect(unresolved.map(\.name) == ["E"])
    }

    @Test func wholeValueReferencesAreTypedAsYAML() throws {
        let config = TestSupport.base("receivers: [otlp]", "receivers: ${env:RECEIVERS}")
        #expect(TestSupport.lint(config, mode: .validate).isEmpty, "an unknown list is not judged")
        let options = CheckOptions(environment: Environment(["RECEIVERS": "[otlp, jaeger]"]))
        let findings = TestSupport.lint(config, options: options, mode: .validate)
        #expect(findings.map(\.rule) == [.undeclaredComponent])
    }

    @Test func referencePositionsPointAtTheDollar() throws {
        let config = TestSupport.base("collector.example.com:4317", "\"host-${env:H}\"")
        let options = CheckOptions(reportUnsetEnvironment: true)
        let finding = try #require(
            TestSupport.lint(config, options: options).first { $0.rule == .envUnsetNoDefault })
        let line = config.split(separator: "\n", omittingEmptySubsequences: false)[finding.position.line - 1]
        #expect(Array(line)[finding.position.column - 1] == "$")
        #expect(finding.path == "exporters.otlp_grpc.endpoint")
    }
}

@Suite struct FuzzRegressionTests {
    /// Inputs the FuzzLint target found interesting or that once broke the pipeline, replayed for ever.
    @Test func lintRegressionsRunClean() throws {
        let directory = TestSupport.fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/regressions-lint")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.count >= 8)
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            let text = String(decoding: data, as: UTF8.self)
            let findings = TestSupport.lint(text, name: file)
            let unit = Loader.unit([SourceText(name: file, text: text)])
            if unit.root == nil { #expect(findings.contains { $0.severity == .error }, "\(file)") }
            if let root = unit.root {
                let normalized = Normalizer.normalize(root)
                let again = try #require(Loader.unit([SourceText(name: "n", text: normalized)]).root, "\(file)")
                #expect(Normalizer.normalize(again) == normalized, "\(file)")
                _ = GraphRenderer.render(PipelineGraph(CollectorConfig(root: root)), format: .svg)
            }
        }
    }
}

@Suite struct FileReferenceTests {
    @Test func wholeValueFileReferencesAreReadWhenAllowed() {
        let config = TestSupport.base("  otlp_grpc:\n    endpoint: collector.example.com:4317\n", "")
            .replacingOccurrences(of: "exporters:\n", with: "exporters: ${file:${env:DIR}/exporters.yaml}\n")
        let files = ["/conf/exporters.yaml": "otlp_grpc:\n  endpoint: collector.example.com:4317\n"]
        // Not read by default: the exporters are unknown, so nothing is judged about them.
        #expect(TestSupport.lint(config, mode: .validate).isEmpty)
        let reading = CheckOptions(environment: Environment(["DIR": "/conf"], fileReader: { files[$0] }))
        #expect(TestSupport.lint(config, options: reading, mode: .validate).isEmpty)
        let missing = CheckOptions(environment: Environment(["DIR": "/conf"], fileReader: { _ in "debug:\n" }))
        #expect(TestSupport.lint(config, options: missing, mode: .validate).map(\.rule) == [.undeclaredComponent])
    }
}
