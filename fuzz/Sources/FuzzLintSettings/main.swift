import Toolkit

/// A config whose findings the settings are applied to, read once: it trips several rules and
/// carries inline disables.
let sample: (findings: [Finding], sources: [String: SourceText]) = {
    let text = """
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: 0.0.0.0:4317 # ampora-lint: disable=listen-all-interfaces
        exporters:
          debug:
          otlphttp:
            endpoint: http://collector:4318
            headers: {authorization: "Bearer abcdefabcdefabcdefabcdef"}
        processors:
          batch:
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [debug]}
        """
    let source = SourceText(name: "sample.yaml", text: text)
    let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
    return (Linter.check(input, mode: .lint), input.sources)
}()

/// libFuzzer entry: any `.ampora-lint.yaml` text is read or refused with a message naming the
/// file, never a trap; an accepted policy only removes findings or changes their severity, and
/// never lets a disabled rule through.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLintSettings(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let policy: LintPolicy
    do {
        policy = try LintPolicy(yaml: text, file: ".ampora-lint.yaml")
    } catch {
        if !error.message.hasPrefix(".ampora-lint.yaml") { fatalError("an error that does not name the file") }
        return 0
    }
    if let bytes = policy.maxConfigBytes, bytes <= 0 { fatalError("a limit that is not positive") }
    let applied = policy.apply(sample.findings, sources: sample.sources)
    if applied.count > sample.findings.count { fatalError("the policy added findings") }
    for finding in applied {
        if policy.disabled.contains(finding.rule) { fatalError("a disabled rule was reported") }
        if let severity = policy.severities[finding.rule], finding.severity != severity {
            fatalError("a severity override was not applied")
        }
        let original = sample.findings.contains { $0.rule == finding.rule && $0.position == finding.position }
        if !original { fatalError("a finding that the config did not have") }
    }
    return 0
}
