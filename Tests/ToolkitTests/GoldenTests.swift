import Foundation
import Testing

@testable import Toolkit

/// Output compared byte for byte with files under Fixtures/golden. After a deliberate change, regenerate with
/// `AMPORA_UPDATE_GOLDEN=1 swift test --skip-build --filter GoldenTests` and review the diff.
@Suite struct GoldenTests {
    static let demo = "open-telemetry__opentelemetry-demo__src__otel-collector__otelcol-config.yaml"
    static let local = "open-telemetry__opentelemetry-collector__examples__local__otel-config.yaml"
    static let cyclic = "open-telemetry__opentelemetry-collector__otelcol__testdata__otelcol-cyclic-connector.yaml"
    static let undeclared =
        "dash0hq__otelbin__packages__otelbin-validation__test__assets__config-undeclared-receiver.yaml"
    static let wrapper =
        "open-telemetry__opentelemetry-helm-charts__charts__opentelemetry-collector__examples__statefulset-only__rendered__configmap-statefulset.yaml"
    static let connectors =
        "open-telemetry__opentelemetry-operator__internal__otelconfig__testdata__otelcol-connectors.yaml"

    static func input(_ file: String) throws -> LoadedInput {
        let source = SourceText(name: "corpus/" + file, text: try TestSupport.corpusText(file))
        return LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
    }

    static func findings(_ file: String, format: FindingFormat) throws -> String {
        let input = try input(file)
        let findings = Linter.check(input, mode: .lint)
        return FindingFormatter.render(findings, format: format, fileCount: 1, sources: input.sources)
    }

    static func root(_ file: String) throws -> YNode {
        try #require(try input(file).units[0].root)
    }

    func check(_ actual: String, _ golden: String) throws {
        let url = TestSupport.fixtures.appendingPathComponent("golden").appendingPathComponent(golden)
        if ProcessInfo.processInfo.environment["AMPORA_UPDATE_GOLDEN"] == "1" {
            try Data(actual.utf8).write(to: url)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "\(golden) differs; regenerate with AMPORA_UPDATE_GOLDEN=1 if intended")
    }

    @Test func lintText() throws { try check(try Self.findings(Self.local, format: .text), "local.lint.txt") }
    @Test func lintJSON() throws { try check(try Self.findings(Self.demo, format: .json), "demo.lint.json") }
    @Test func lintJSONWrapper() throws {
        try check(try Self.findings(Self.wrapper, format: .json), "wrapper.lint.json")
    }
    @Test func lintSARIF() throws {
        try check(try Self.findings(Self.undeclared, format: .sarif), "undeclared.lint.sarif")
    }
    @Test func lintGitHub() throws {
        try check(try Self.findings(Self.undeclared, format: .github), "undeclared.lint.github")
    }
    @Test func normalizeDemo() throws {
        try check(Normalizer.normalize(try Self.root(Self.demo)), "demo.normalized.yaml")
    }

    @Test func graphs() throws {
        for (file, name) in [(Self.cyclic, "cyclic"), (Self.connectors, "connectors"), (Self.demo, "demo")] {
            let graph = PipelineGraph(CollectorConfig(root: try Self.root(file)))
            for format in GraphFormat.allCases {
                try check(GraphRenderer.render(graph, format: format), "\(name).graph.\(format.rawValue)")
            }
        }
    }

    @Test func ruleListing() throws { try check(RuleListing.render(RuleCatalog.all, json: false), "rules.txt") }
}
