/// Which checks to run.
public enum CheckMode: Sendable {
    /// Structure and references: what the Collector itself refuses.
    case validate
    /// Everything.
    case lint
}

/// Runs the checks over a loaded config.
public enum Linter {
    /// Findings for one config unit, unfiltered and in deterministic order.
    public static func check(_ unit: ConfigUnit, options: CheckOptions = CheckOptions(), mode: CheckMode) -> [Finding] {
        var findings = unit.syntaxFindings
        guard let root = unit.root else {
            if findings.isEmpty, let file = unit.files.first {
                findings.append(
                    Finding(
                        rule: .configEmpty, severity: .error, message: "no Collector config found in \(file)",
                        position: SourcePosition(file: file, line: 1, column: 1), path: ""))
            }
            return findings.sorted(by: Finding.ordered)
        }
        var context = CheckContext(
            config: CollectorConfig(root: options.environment.expandWholeValues(root)), options: options,
            sizeBytes: unit.sizeBytes,
            sources: Dictionary(unit.sources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }))
        StructureChecks.run(&context)
        if context.config.root.pairs?.isEmpty == false {
            SettingsChecks.run(&context)
            ReferenceChecks.run(&context)
            RegistryChecks.run(&context)
            HygieneChecks.run(&context)
            SecurityChecks.run(&context)
        }
        findings += context.findings
        if mode == .validate {
            findings = findings.filter(\.rule.info.refusal)
        }
        var seen: Set<Finding> = []
        return withoutRestatements(findings.filter { seen.insert($0).inserted }).sorted(by: Finding.ordered)
    }

    /// Rules that only restate, at the same position, the problem a more specific rule already names: a pprof
    /// extension on 0.0.0.0 is one exposure, not two findings.
    static let restatedBy: [RuleID: [RuleID]] = [
        .listenAllInterfaces: [.debugExtensionExposed, .receiverNoAuth],
        .invalidDuration: [.invalidValue],
        .telemetryMetricsAddress: [.removedSetting],
    ]

    static func withoutRestatements(_ findings: [Finding]) -> [Finding] {
        var rulesAt: [SourcePosition: Set<RuleID>] = [:]
        for finding in findings { rulesAt[finding.position, default: []].insert(finding.rule) }
        return findings.filter { finding in
            guard let specific = restatedBy[finding.rule], let here = rulesAt[finding.position] else { return true }
            return !specific.contains(where: here.contains)
        }
    }
}

extension Linter {
    /// Checks every unit of `input`, applies the policy and inline disables, and returns findings in output order.
    public static func check(
        _ input: LoadedInput, options: CheckOptions = CheckOptions(), policy: LintPolicy = LintPolicy(), mode: CheckMode
    ) -> [Finding] {
        var options = options
        if let limit = policy.maxConfigBytes { options.maxConfigBytes = limit }
        let findings = input.units.flatMap { check($0, options: options, mode: mode) }
        return policy.apply(findings, sources: input.sources).sorted(by: Finding.ordered)
    }
}
