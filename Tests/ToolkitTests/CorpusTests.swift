import Foundation
import Testing

@testable import Toolkit

@Suite struct CorpusTests {
    /// Lints one corpus file the way `ampora-tool lint FILE` does.
    static func lint(_ file: String) throws -> [Finding] {
        TestSupport.lint(try TestSupport.corpusText(file), name: "corpus/" + file)
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
                #expect(RuleCatalog.info(finding.rule) != nil, "\(finding.rule) is not in the catalogue")
            }
        }
        #expect(invalidWithoutError.isEmpty, "invalid configs without an error: \(invalidWithoutError)")
        // Known today: test-only `nop` types, other distributions' types (Jaeger, Splunk, BindPlane), removed
        // types still in examples, overlay files meant to be merged. Growth here means a new false positive.
        #expect(validWithError.count <= 35, "valid configs with errors: \(validWithError.count): \(validWithError)")
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
        let findings = try Self.lint(file)
        let env = try #require(findings.first { $0.rule == "env-unset-no-default" })
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
