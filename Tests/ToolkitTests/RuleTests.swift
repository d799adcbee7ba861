import Testing

@testable import Toolkit

@Suite struct RuleTests {
    @Test func everyRuleHasACase() {
        let covered = Set(ruleCases.map(\.rule))
        let missing = RuleCatalog.all.map(\.id).filter { !covered.contains($0) }
        #expect(missing.isEmpty, "rules without a test case: \(missing)")
        #expect(RuleCatalog.all.count >= 45)
        #expect(Set(RuleCatalog.all.map(\.id)).count == RuleCatalog.all.count, "rule ids must be unique")
    }

    @Test func catalogueIsComplete() {
        for rule in RuleCatalog.all {
            #expect(rule.rationale.count > 80, "\(rule.id) needs a real rationale")
            #expect(rule.id.allSatisfy { $0.isLowercase || $0 == "-" }, "\(rule.id) is not kebab-case")
        }
    }

    @Test(arguments: ruleCases) func triggers(_ rule: RuleCase) {
        let findings = TestSupport.lint(rule.triggering, options: rule.options)
        #expect(findings.contains { $0.rule == rule.rule }, "\(rule.rule) did not fire: \(findings.map(\.rule))")
    }

    @Test(arguments: ruleCases) func staysQuiet(_ rule: RuleCase) {
        let findings = TestSupport.lint(rule.clean)
        #expect(!findings.contains { $0.rule == rule.rule }, "\(rule.rule) fired on the clean config")
    }

    @Test func baseConfigHasOnlyTheAlphaExtensionNote() {
        let findings = TestSupport.lint(TestSupport.base)
        #expect(findings.map(\.rule) == ["unstable-component"])
    }

    @Test func validateRunsOnlyStructureAndReferences() {
        let config = TestSupport.base("[memory_limiter, batch]", "[batch, attributes]")
        let findings = TestSupport.lint(config, mode: .validate)
        #expect(findings.map(\.rule) == ["undeclared-component"])
    }
}

@Suite struct RuleEdgeTests {
    @Test func plaintextToServiceNamesIsNotRemote() {
        for host in ["jaeger:4317", "otel.monitoring.svc.cluster.local:4317", "0.0.0.0:4317"] {
            let config = TestSupport.base("collector.example.com:4317", host)
                .replacingOccurrences(
                    of: "    endpoint: \(host)\n", with: "    endpoint: \(host)\n    tls:\n      insecure: true\n")
            #expect(!TestSupport.lint(config).contains { $0.rule == "tls-insecure-remote" }, "\(host)")
        }
        let remote = TestSupport.base("collector.example.com:4317", "http://collector.example.com:4318")
        #expect(TestSupport.lint(remote).contains { $0.rule == "tls-insecure-remote" })
    }

    @Test func secretsFromReferencesAreFine() {
        let config = TestSupport.base(
            "    endpoint: collector.example.com:4317\n",
            "    endpoint: collector.example.com:4317\n    headers:\n      x-api-key: ${file:/run/secrets/key}\n")
        #expect(!TestSupport.lint(config).contains { $0.rule == "plaintext-secret" })
    }
}
