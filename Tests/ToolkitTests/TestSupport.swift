import Foundation

@testable import Toolkit

/// Paths and helpers shared by the Toolkit tests.
enum TestSupport {
    /// Tests/ToolkitTests/Fixtures, found from this file so it works in any clone.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// The copied corpus.
    static let corpus = fixtures.appendingPathComponent("corpus")

    /// Lints YAML text held in memory under `name`.
    static func lint(
        _ yaml: String, name: String = "test.yaml", options: CheckOptions = CheckOptions(), mode: CheckMode = .lint
    ) -> [Finding] {
        let source = SourceText(name: name, text: yaml)
        let input = LoadedInput(sources: [name: source], units: [Loader.unit([source])])
        return Linter.check(input, options: options, mode: mode)
    }

    /// A corpus file's text.
    static func corpusText(_ file: String) throws -> String {
        try String(contentsOf: corpus.appendingPathComponent(file), encoding: .utf8)
    }

    /// SOURCES.tsv rows as (file, expected).
    static func corpusRows() throws -> [(file: String, expected: String)] {
        let text = try String(contentsOf: corpus.appendingPathComponent("SOURCES.tsv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return (String(fields[0]), String(fields[5]))
        }
    }

    /// A config with every hygiene expectation met; only the alpha health_check extension is reported (info).
    static let base = """
        extensions:
          health_check:
            endpoint: localhost:13133
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: localhost:4317
        processors:
          memory_limiter:
            check_interval: 1s
            limit_mib: 512
          batch:
        exporters:
          otlp_grpc:
            endpoint: collector.example.com:4317
        service:
          extensions: [health_check]
          pipelines:
            traces:
              receivers: [otlp]
              processors: [memory_limiter, batch]
              exporters: [otlp_grpc]

        """

    /// `base` with one substring replaced; fails loudly when the substring is missing so cases cannot rot.
    static func base(_ old: String, _ new: String) -> String {
        precondition(base.contains(old), "base config has no '\(old)'")
        return base.replacingOccurrences(of: old, with: new)
    }
}
