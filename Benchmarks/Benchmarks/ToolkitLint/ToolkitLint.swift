// The Toolkit's lint pipeline (parse, unwrap, merge, every rule, sort) on the real Collector config
// corpus, in process, so per-file latency is not hidden under process start-up. Inputs are read from
// disk once, before measuring; each measured operation starts from the file's text.

import Benchmark
import Toolkit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

enum Corpus {
    /// Tests/ToolkitTests/Fixtures/corpus, found from this file.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/ToolkitTests/Fixtures/corpus")

    /// Every corpus file as (name, text), sorted by name.
    static let files: [(name: String, text: String)] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { name in
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data()
            return (name, String(decoding: data, as: UTF8.self))
        }
    }()

    static func file(_ name: String) -> SourceText {
        SourceText(name: name, text: files.first { $0.name == name }?.text ?? "")
    }

    /// The corpus file whose size is the median.
    static let medianFile: SourceText = {
        let sorted = files.sorted { $0.text.utf8.count < $1.text.utf8.count }
        let middle = sorted[sorted.count / 2]
        return SourceText(name: middle.name, text: middle.text)
    }()

    static let largestFile: SourceText = {
        let largest = files.max { $0.text.utf8.count < $1.text.utf8.count }!
        return SourceText(name: largest.name, text: largest.text)
    }()

    static let smallExample = file("open-telemetry__opentelemetry-collector__examples__local__otel-config.yaml")

    /// The whole lint of one file, as `ampora-tool lint FILE` does it minus I/O and printing.
    @inline(never)
    static func lint(_ source: SourceText) -> Int {
        let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
        return Linter.check(input, mode: .lint).count
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )
    precondition(Corpus.files.count == 138, "corpus not found at \(Corpus.directory.path)")

    Benchmark("lint: whole corpus (138 files)") { benchmark in
        var findings = 0
        for file in Corpus.files { findings &+= Corpus.lint(SourceText(name: file.name, text: file.text)) }
        blackHole(findings)
    }
    Benchmark("lint: one small file (\(Corpus.smallExample.text.utf8.count) B, collector examples/local)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Corpus.lint(Corpus.smallExample)) }
    }
    Benchmark("lint: median-size file (\(Corpus.medianFile.text.utf8.count) B)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Corpus.lint(Corpus.medianFile)) }
    }
    Benchmark("lint: largest file (\(Corpus.largestFile.text.utf8.count) B)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Corpus.lint(Corpus.largestFile)) }
    }
    Benchmark("parse only: largest file") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Loader.unit([Corpus.largestFile]).root != nil) }
    }
}
