import Toolkit

/// libFuzzer entry: any bytes go through the whole config pipeline (parse, unwrap, merge, every rule, an output
/// format, normalize, graph and fix) without trapping, and the results must be self-consistent.
///
/// Every input is parsed, checked by every rule, normalized and read back, graphed, fixed and diffed. The
/// findings and the graph are rendered in one format each per input, not in all eight: rendering was most
/// of the time per input (SARIF alone, which writes out every rule's description, cost more than parsing
/// and checking together; FUZZING.md). The formats are chosen from the input's bytes, so a given input
/// always takes the same path (a crash replays) and the run covers every format.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let source = SourceText(name: "fuzz.yaml", text: text)
    let unit = Loader.unit([source])
    let input = LoadedInput(sources: [source.name: source], units: [unit])
    let findings = Linter.check(input, mode: .lint)
    if findings != findings.sorted(by: Finding.ordered) { fatalError("findings out of order") }
    for finding in findings where finding.position.line < 1 || finding.position.column < 1 {
        fatalError("finding without a position: \(finding)")
    }
    if unit.root == nil, !findings.contains(where: { $0.severity == .error }) { fatalError("no config and no error") }
    let pick = Int(truncatingIfNeeded: bytes.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 })
    let findingFormat = FindingFormat.allCases[pick % FindingFormat.allCases.count]
    _ = FindingFormatter.render(findings, format: findingFormat, fileCount: 1, sources: input.sources)
    guard let root = unit.root else { return 0 }
    let normalized = Normalizer.normalize(root)
    // The canonical form must read back to itself.
    let again = Loader.unit([SourceText(name: "n.yaml", text: normalized)])
    if let reread = again.root, Normalizer.normalize(reread) != normalized {
        fatalError("normalize is not idempotent")
    }
    let graph = PipelineGraph(CollectorConfig(root: root))
    let graphFormat = GraphFormat.allCases[pick / FindingFormat.allCases.count % GraphFormat.allCases.count]
    _ = GraphRenderer.render(graph, format: graphFormat)
    let edits = Fixer.edits(for: unit, sources: input.sources)
    let fixed = Fixer.apply(edits, to: source)
    _ = Fixer.unifiedDiff(old: text, new: fixed, name: "fuzz.yaml")
    _ = ConfigDiffer.diff(old: root, new: root)
    return 0
}
