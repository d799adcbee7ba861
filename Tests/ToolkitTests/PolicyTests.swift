import Testing

@testable import Toolkit

@Suite struct PolicyTests {
    static let noisy = TestSupport.base("endpoint: localhost:4317", "endpoint: 0.0.0.0:4317")

    @Test func inlineDisableOnTheLineOrAbove() {
        let sameLine = Self.noisy.replacingOccurrences(
            of: "0.0.0.0:4317", with: "0.0.0.0:4317  # ampora-lint: disable=listen-all-interfaces,receiver-no-auth")
        #expect(
            !TestSupport.lint(sameLine).contains { $0.rule == "listen-all-interfaces" || $0.rule == "receiver-no-auth" }
        )
        let above = Self.noisy.replacingOccurrences(
            of: "        endpoint: 0.0.0.0:4317",
            with: "        # ampora-lint: disable=listen-all-interfaces\n        endpoint: 0.0.0.0:4317")
        let findings = TestSupport.lint(above)
        #expect(!findings.contains { $0.rule == "listen-all-interfaces" })
        #expect(findings.contains { $0.rule == "receiver-no-auth" })
        let file = "# ampora-lint: disable-file=receiver-no-auth\n" + Self.noisy
        #expect(!TestSupport.lint(file).contains { $0.rule == "receiver-no-auth" })
    }

    @Test func policyFileDisablesAndRaisesSeverities() throws {
        let policy = try LintPolicy(
            yaml:
                "disable: [listen-all-interfaces]\nrules:\n  receiver-no-auth: error\n  unstable-component: off\nseverity-threshold: warning\n",
            file: ".ampora-lint.yaml")
        let source = SourceText(name: "c.yaml", text: Self.noisy)
        let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
        let findings = Linter.check(input, policy: policy, mode: .lint)
        #expect(findings.map(\.rule) == ["receiver-no-auth"])
        #expect(findings.first?.severity == .error)
        #expect(policy.threshold == .warning)
    }

    @Test func unknownRulesInThePolicyAreErrors() {
        #expect(throws: LoadError.self) { try LintPolicy(yaml: "disable: [no-such-rule]\n", file: "p") }
        #expect(throws: LoadError.self) { try LintPolicy(yaml: "rules: {unused-component: loud}\n", file: "p") }
    }

    @Test func disableAllThenEnable() throws {
        let policy = try LintPolicy(yaml: "disable: [all]\nenable: [receiver-no-auth]\n", file: "p")
        let source = SourceText(name: "c.yaml", text: Self.noisy)
        let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
        #expect(Linter.check(input, policy: policy, mode: .lint).map(\.rule) == ["receiver-no-auth"])
    }
}
