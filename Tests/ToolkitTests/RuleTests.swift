import Testing

@testable import Toolkit

@Suite struct RuleTests {
    @Test func everyRuleHasACase() {
        let covered = Set(ruleCases.map(\.rule))
        let missing = RuleID.allCases.filter { !covered.contains($0) }
        #expect(missing.isEmpty, "rules without a test case: \(missing)")
        #expect(RuleID.allCases.count >= 45)
    }

    @Test func catalogueIsComplete() {
        for rule in RuleCatalog.all {
            #expect(rule.rationale.count > 80, "\(rule.id) needs a real rationale")
            #expect(rule.id.rawValue.allSatisfy { $0.isLowercase || $0 == "-" }, "\(rule.id) is not kebab-case")
        }
    }

    @Test func catalogueAndRuleIDsMatchBothWays() {
        #expect(RuleCatalog.all.map(\.id) == RuleID.allCases)
        for rule in RuleID.allCases {
            #expect(rule.info.id == rule, "\(rule) carries the facts of \(rule.info.id)")
            #expect(RuleID(rawValue: rule.rawValue) == rule)
            #expect("\(rule)" == rule.rawValue, "messages must show the id users write")
        }
        #expect(RuleID(rawValue: "no-such-rule") == nil)
    }

    /// `ampora-tool rules` lists the categories one after the other, in `RuleCategory` order.
    @Test func rulesAreGroupedByCategory() {
        let order = RuleCatalog.all.map { RuleCategory.allCases.firstIndex(of: $0.category)! }
        #expect(order == order.sorted(), "a new rule belongs at the end of its category in RuleID")
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
        #expect(findings.map(\.rule) == [.unstableComponent])
    }

    @Test func validateRunsOnlyStructureAndReferences() {
        let config = TestSupport.base("[memory_limiter, batch]", "[batch, attributes]")
        let findings = TestSupport.lint(config, mode: .validate)
        #expect(findings.map(\.rule) == [.undeclaredComponent])
    }
}

@Suite struct RuleEdgeTests {
    @Test func plaintextToServiceNamesIsNotRemote() {
        for host in ["jaeger:4317", "otel.monitoring.svc.cluster.local:4317", "0.0.0.0:4317"] {
            let config = TestSupport.base("collector.example.com:4317", host)
                .replacingOccurrences(
                    of: "    endpoint: \(host)\n", with: "    endpoint: \(host)\n    tls:\n      insecure: true\n")
            #expect(!TestSupport.lint(config).contains { $0.rule == .tlsInsecureRemote }, "\(host)")
        }
        let remote = TestSupport.base("collector.example.com:4317", "http://collector.example.com:4318")
        #expect(TestSupport.lint(remote).contains { $0.rule == .tlsInsecureRemote })
    }

    @Test func secretsFromReferencesAreFine() {
        let config = TestSupport.base(
            "    endpoint: collector.example.com:4317\n",
            "    endpoint: collector.example.com:4317\n    headers:\n      x-api-key: ${file:/run/secrets/key}\n")
        #expect(!TestSupport.lint(config).contains { $0.rule == .plaintextSecret })
    }
}

/// The severities and conditions the labelled corpus decided (README.md, "Labelled corpus").
@Suite struct ReviewedSeverityTests {
    static func severities(_ rule: RuleID, _ yaml: String, options: CheckOptions = CheckOptions()) -> [Severity] {
        TestSupport.lint(yaml, options: options).filter { $0.rule == rule }.map(\.severity)
    }

    @Test func deprecatedAliasWarnsOnlyForAStatedRelease() {
        let config = TestSupport.base("otlp_grpc", "otlp")
        #expect(Self.severities(.deprecatedAlias, config) == [.info])
        let stated = CheckOptions(collectorVersion: .registrySnapshot, collectorVersionStated: true)
        #expect(Self.severities(.deprecatedAlias, config, options: stated) == [.warning])
    }

    @Test func memoryLimiterMissingWarnsOnlyWhenOtherPipelinesRunIt() {
        let alone = TestSupport.base("[memory_limiter, batch]", "[batch]")
        #expect(Self.severities(.memoryLimiterMissing, alone) == [.info])
        let second =
            "      exporters: [otlp_grpc]\n    traces/2:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n"
        let partly = TestSupport.base("      exporters: [otlp_grpc]\n", second)
        let findings = TestSupport.lint(partly).filter { $0.rule == .memoryLimiterMissing }
        #expect(findings.map(\.severity) == [.warning])
        #expect(findings.first?.message == "pipeline 'traces/2' has no memory_limiter processor ('traces' has one)")
    }

    @Test func skipVerifyToServiceNamesIsNotReported() {
        let tls = "    tls:\n      insecure_skip_verify: true\n"
        for (host, reported) in [
            ("splunk:8088", false), ("otel.monitoring.svc:4317", false), ("localhost:4317", false),
            ("collector.example.com:4317", true), ("${env:NODE_IP}:10250", true),
        ] {
            let config = TestSupport.base(
                "    endpoint: collector.example.com:4317\n", "    endpoint: \(host)\n" + tls)
            #expect(Self.severities(.tlsSkipVerify, config) == (reported ? [.warning] : []), "\(host)")
        }
    }

    @Test func anExtensionAComponentNamesIsReportedOnce() {
        let config = TestSupport.base(
            "extensions:\n", "extensions:\n  file_storage:\n"
        ).replacingOccurrences(
            of: "  otlp:\n    protocols:", with: "  otlp:\n    storage: file_storage\n    protocols:")
        let rules = TestSupport.lint(config).map(\.rule)
        #expect(rules.contains(.unresolvedExtension))
        #expect(!rules.contains(.extensionNotEnabled))
    }

    @Test func registryAddCanDeclareAVendorSection() throws {
        let config = "config_sources:\n  env:\n" + TestSupport.base
        #expect(TestSupport.lint(config).contains { $0.rule == .unknownTopLevelKey })
        var options = CheckOptions()
        options.registry.add(try ComponentRegistry.rows(tsv: "section\tconfig_sources\tbeta\tSplunk\n"))
        #expect(!TestSupport.lint(config, options: options).contains { $0.rule == .unknownTopLevelKey })
    }
}
