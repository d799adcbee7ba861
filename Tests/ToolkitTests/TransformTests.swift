import Testing

@testable import Toolkit

@Suite struct TransformTests {
    static func fix(_ text: String, rules: Set<RuleID> = [.deprecatedAlias, .ottlUnquoted, .bareEnvVar])
        -> String
    {
        let source = SourceText(name: "f.yaml", text: text)
        let edits = Fixer.edits(for: Loader.unit([source]), sources: [source.name: source], rules: rules)
        return Fixer.apply(edits, to: source)
    }

    @Test func renamesAliasesAndTheirReferencesKeepingComments() {
        let text = TestSupport.base("  otlp_grpc:\n", "  otlp/primary:   # the main backend\n")
            .replacingOccurrences(of: "[otlp_grpc]", with: "[\"otlp/primary\"]")
        let fixed = Self.fix(text)
        #expect(fixed.contains("  otlp_grpc/primary:   # the main backend\n"))
        #expect(fixed.contains("exporters: [\"otlp_grpc/primary\"]"))
        // The receiver named otlp is current and must not be touched.
        #expect(fixed.contains("receivers: [otlp]"))
        #expect(!TestSupport.lint(fixed).contains { $0.rule == .deprecatedAlias || $0.severity == .error })
    }

    @Test func aliasRenameIsSkippedWhenTheTargetExists() {
        let text = TestSupport.base("exporters:\n", "exporters:\n  otlp:\n    endpoint: b.example.com:4317\n")
        #expect(Self.fix(text) == text)
    }

    @Test func quotesOTTLAndRewritesBareVariables() {
        let text = TestSupport.base(
            "  batch:\n", "  batch:\n  transform:\n    trace_statements:\n      - set(attributes[\"it's\"], \"x #1\")\n"
        )
        .replacingOccurrences(of: "[memory_limiter, batch]", with: "[memory_limiter, transform, batch]")
        .replacingOccurrences(of: "collector.example.com:4317", with: "$HOST:4317")
        let fixed = Self.fix(text)
        #expect(fixed.contains("      - 'set(attributes[\"it''s\"], \"x #1\")'\n"))
        #expect(fixed.contains("endpoint: ${env:HOST}:4317"))
        let findings = TestSupport.lint(fixed).map(\.rule)
        #expect(!findings.contains(.ottlUnquoted) && !findings.contains(.bareEnvVar))
        let diff = Fixer.unifiedDiff(old: text, new: fixed, name: "f.yaml")
        #expect(diff.contains("-    endpoint: $HOST:4317\n+    endpoint: ${env:HOST}:4317\n"))
    }

    @Test func normalizeIsOrderIndependentAndIdempotent() throws {
        let a = """
            service:
              pipelines:
                traces:
                  exporters: [b, a]
                  receivers: [r]
            exporters:
              b: {endpoint: "x:1", compression: gzip}
              a:
            receivers:
              r: {protocols: {grpc: null}}

            """
        let b = """
            receivers:
              r:
                protocols:
                  grpc:
            exporters:
              a: {}
              b:
                compression: gzip
                endpoint: x:1
            service:
              pipelines:
                traces:
                  receivers: [r]
                  exporters: [b, a]

            """
        let rootA = try #require(Loader.unit([SourceText(name: "a", text: a)]).root)
        let rootB = try #require(Loader.unit([SourceText(name: "b", text: b)]).root)
        let normalized = Normalizer.normalize(rootA)
        #expect(normalized == Normalizer.normalize(rootB))
        #expect(normalized.contains("exporters: [b, a]"), "pipeline order is meaning and is kept")
        let again = try #require(Loader.unit([SourceText(name: "n", text: normalized)]).root)
        #expect(Normalizer.normalize(again) == normalized)
    }

    @Test func normalizeKeepsStringsStringsAndRedacts() throws {
        let text =
            "exporters:\n  x:\n    headers:\n      authorization: \"Bearer t\"\n    flag: \"true\"\n    port: \"4317\"\n"
        let root = try #require(Loader.unit([SourceText(name: "s", text: text)]).root)
        var options = NormalizeOptions()
        options.redactSecrets = true
        let out = Normalizer.normalize(root, options: options)
        #expect(out.contains("flag: \"true\""))
        #expect(out.contains("port: \"4317\""))
        #expect(out.contains("authorization: <redacted>\n"))
    }

    @Test func semanticDiffRanksRisk() throws {
        let old = try #require(Loader.unit([SourceText(name: "o", text: TestSupport.base)]).root)
        let newText = TestSupport.base(
            "collector.example.com:4317", "other.example.com:4317\n    tls:\n      insecure: true"
        )
        .replacingOccurrences(of: "[memory_limiter, batch]", with: "[batch]")
        let new = try #require(Loader.unit([SourceText(name: "n", text: newText)]).root)
        let changes = ConfigDiffer.diff(old: old, new: new)
        #expect(changes.first?.risk == .high)
        let kinds = Set(changes.map(\.kind))
        #expect(kinds.isSuperset(of: ["endpoint-changed", "tls-weakened", "processor-unwired"]))
        #expect(
            changes == changes.sorted { $0.risk > $1.risk } || changes.map(\.risk) == changes.map(\.risk).sorted(by: >))
        #expect(ConfigDiffer.diff(old: old, new: old).isEmpty)
    }

    @Test func graphFollowsTheCollectorModel() throws {
        let text = """
            receivers:
              otlp:
                protocols: {grpc: null}
            processors:
              batch:
            exporters:
              otlp_grpc: {endpoint: "x:1"}
            connectors:
              span_metrics:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [batch]
                  exporters: [otlp_grpc, span_metrics]
                metrics:
                  receivers: [otlp, span_metrics]
                  processors: [batch]
                  exporters: [otlp_grpc, missing]

            """
        let root = try #require(Loader.unit([SourceText(name: "g", text: text)]).root)
        let graph = PipelineGraph(CollectorConfig(root: root))
        let ids = Set(graph.nodes.map(\.id))
        // Receivers and exporters shared per signal, processors per pipeline, one connector per signal pair.
        #expect(
            ids.isSuperset(of: [
                "receiver/otlp@traces", "receiver/otlp@metrics", "processor/batch@traces", "processor/batch@metrics",
                "exporter/otlp_grpc@traces", "exporter/otlp_grpc@metrics", "connector/span_metrics@traces->metrics",
            ]))
        #expect(graph.nodes.first { $0.id == "exporter/missing@metrics" }?.status == .missing)
        #expect(
            graph.edges.contains {
                $0.from == "processor/batch@traces" && $0.to == "connector/span_metrics@traces->metrics"
            })
        #expect(
            graph.edges.contains {
                $0.from == "connector/span_metrics@traces->metrics" && $0.to == "processor/batch@metrics"
            })
        #expect(!graph.edges.contains { $0.inCycle })
    }
}
