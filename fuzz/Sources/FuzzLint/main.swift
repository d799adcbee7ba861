import Toolkit

/// libFuzzer entry: any bytes go through the whole config pipeline (parse, unwrap, merge, every rule, every
/// output format, normalize, graph and fix) without trapping, and the results must be self-consistent.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let source = SourceText(name: "fuzz.yaml", text: text)
    let unit = Loader.unit([source])
    let input = LoadedInput(sources: [source.name: source], units: [unit])
    let findings = Linter.check(input, mode: .lint)
    if findings != findings.sorted(by: Finding.ordered) { fatalError("findings out of order") }
    for finding in findings where finding.position.line < 1 || finding.position.column < 1 {
        fatalError("finding without a position: \(finding)")
    }
    if unit.root == nil, !findings.contains(where: { $0.severity == .error }) { fatalError("no config and no error") }
    for format in FindingFormat.allCases {
        _ = FindingFormatter.render(findings, format: format, fileCount: 1, sources: input.sources)
    }
    guard let root = unit.root else { return 0 }
    let normalized = Normalizer.normalize(root)
    // The canonical form must read back to itself.
    let again = Loader.unit([SourceText(name: "n.yaml", text: normalized)])
    if let reread = again.root, Normalizer.normalize(reread) != normalized {
        fatalError("normalize is not idempotent")
    }
    let graph = PipelineGraph(CollectorConfig(root: root))
    for format in GraphFormat.allCases { _ = GraphRenderer.render(graph, format: format) }
    let edits = Fixer.edits(for: unit, sources: input.sources)
    let fixed = Fixer.apply(edits, to: source)
    _ = Fixer.unifiedDiff(old: text, new: fixed, name: "fuzz.yaml")
    _ = ConfigDiffer.diff(old: root, new: root)
    return 0
}
