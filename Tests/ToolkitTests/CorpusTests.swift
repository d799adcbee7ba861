import Foundation
import Testing

@testable import Toolkit

@Suite struct CorpusTests {
    /// Lints one corpus file the way `ampora-tool lint FILE` does.
    static func lint(_ file: String, options: CheckOptions = CheckOptions()) throws -> [Finding] {
        TestSupport.lint(try TestSupport.corpusText(file), name: "corpus/" + file, options: options)
    }

    @Test func everyFileIsProcessedAndEveryInvalidOneHasAnError() throws {
        let rows = try TestSupport.corpusRows()
        #expect(rows.count == 138)
        var invalidWithoutError: [String] = []
        var validWithError: [String] = []
        for row in rows {
            let findings = try Self.lint(row.file)
            let hasError = findings.contains { $0.severity == .error }
            if row.expected == "invalid", !hasError { invalidWithoutError.append(row.file) }
            if row.expected != "invalid", hasError { validWithError.append(row.file) }
            for finding in findings {
                #expect(finding.position.line >= 1 && finding.position.column >= 1, "\(row.file): \(finding)")
            }
        }
        #expect(invalidWithoutError.isEmpty, "invalid configs without an error: \(invalidWithoutError)")
        // Known today: test-only `nop` types, other distributions' types (Jaeger, Splunk, BindPlane) at the
        // default distribution, removed types still in examples, overlay files meant to be merged, profiles
        // pipelines checked without --feature-gates, `metrics.address` (removed in v0.128) and an extension used
        // as `storage` but never started. Growth here means a new false positive.
        #expect(validWithError.count <= 39, "valid configs with errors: \(validWithError.count): \(validWithError)")
    }

    @Test func wholeCorpusInOneLoaderCall() throws {
        let input = try Loader.load(paths: [TestSupport.corpus.path])
        #expect(input.fileCount == 138)
        #expect(input.units.count == 138)
        let findings = Linter.check(input, mode: .lint)
        let sorted = findings.sorted(by: Finding.ordered)
        #expect(findings == sorted, "findings must come out in deterministic order")
    }

    @Test func wrapperLinesAreRemappedToTheOuterFile() throws {
        let file =
            "open-telemetry__opentelemetry-helm-charts__charts__opentelemetry-collector__examples__statefulset-only__rendered__configmap-statefulset.yaml"
        let text = try TestSupport.corpusText(file)
        let findings = try Self.lint(file, options: CheckOptions(reportUnsetEnvironment: true))
        let env = try #require(findings.first { $0.rule == .envUnsetNoDefault })
        let line = text.split(separator: "\n", omittingEmptySubsequences: false)[env.position.line - 1]
        let column = line.unicodeScalars.index(line.unicodeScalars.startIndex, offsetBy: env.position.column - 1)
        #expect(line.unicodeScalars[column...].starts(with: "${env:MY_POD_IP}".unicodeScalars))
    }

    @Test func generatedRegistryMatchesComponentsTSV() throws {
        let tsv = try String(contentsOf: TestSupport.fixtures.appendingPathComponent("components.tsv"), encoding: .utf8)
        let fromFile = try ComponentRegistry(tsv: tsv)
        #expect(fromFile.allEntries == ComponentRegistry.builtin.allEntries)
        #expect(ComponentRegistry.builtin.entry(.exporter, "otlp")?.aliasOf == "otlp_grpc")
        #expect(ComponentRegistry.builtin.entry(.receiver, "filelog")?.aliasOf == "file_log")
        #expect(ComponentRegistry.builtin.entry(.exporter, "logging")?.status == .removed)
    }
}

@Suite struct CorpusFixTests {
    /// Every plain OTTL statement in the corpus reads as written (none holds ` #` inside a string), so
    /// `ottl-unquoted` stays silent on all of it and `fix` quotes nothing: quoting is only offered where YAML
    /// changed the statement.
    @Test func noCorpusStatementIsCutSoNothingIsQuoted() throws {
        for row in try TestSupport.corpusRows() {
            let source = SourceText(name: row.file, text: try TestSupport.corpusText(row.file))
            let unit = Loader.unit([source])
            let edits = Fixer.edits(for: unit, sources: [source.name: source], rules: [.ottlUnquoted])
            #expect(edits.isEmpty, "\(row.file)")
            #expect(!TestSupport.lint(source.text, name: row.file).contains { $0.rule == .ottlUnquoted })
        }
    }

    /// Every autofix together never adds an error, and leaves no deprecated alias it could rename.
    @Test func allFixesAddNoErrors() throws {
        var renamed = 0
        for row in try TestSupport.corpusRows() {
            let source = SourceText(name: row.file, text: try TestSupport.corpusText(row.file))
            let unit = Loader.unit([source])
            let edits = Fixer.edits(for: unit, sources: [source.name: source])
            guard !edits.isEmpty else { continue }
            renamed += edits.filter { $0.rule == .deprecatedAlias }.count
            let before = TestSupport.lint(source.text, name: row.file)
            let after = TestSupport.lint(Fixer.apply(edits, to: source), name: row.file)
            let errors = { (findings: [Finding]) in
                findings.filter { $0.severity == .error }.map(\.rule.rawValue).sorted()
            }
            #expect(errors(after).count <= errors(before).count, "\(row.file): \(errors(before)) -> \(errors(after))")
            #expect(after.filter { $0.rule == .bareEnvVar }.isEmpty, "\(row.file)")
        }
        #expect(renamed > 100)
    }
}
