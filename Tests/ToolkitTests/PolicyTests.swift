import Testing

@testable import Toolkit

@Suite struct PolicyTests {
    static let noisy = TestSupport.base("endpoint: localhost:4317", "endpoint: 0.0.0.0:4317")

    @Test func inlineDisableOnTheLineOrAbove() {
        let sameLine = Self.noisy.replacingOccurrences(
            of: "0.0.0.0:4317", with: "0.0.0.0:4317  # ampora-lint: disable=listen-all-interfaces,receiver-no-auth")
        #expect(
            !TestSupport.lint(sameLine).contains { $0.rule == .listenAllInterfaces || $0.rule == .receiverNoAuth }
        )
        let above = Self.noisy.replacingOccurrences(
            of: "        endpoint: 0.0.0.0:4317",
            with: "        # ampora-lint: disable=listen-all-interfaces\n        endpoint: 0.0.0.0:4317")
        let findings = TestSupport.lint(above)
        #expect(!findings.contains { $0.rule == .listenAllInterfaces })
        #expect(findings.contains { $0.rule == .receiverNoAuth })
        let file = "# ampora-lint: disable-file=receiver-no-auth\n" + Self.noisy
        #expect(!TestSupport.lint(file).contains { $0.rule == .receiverNoAuth })
    }

    @Test func policyFileDisablesAndRaisesSeverities() throws {
        let policy = try LintPolicy(
            yaml:
                "disable: [listen-all-interfaces]\nrules:\n  receiver-no-auth: error\n  unstable-component: off\nseverity-threshold: warning\n",
            file: ".ampora-lint.yaml")
        let source = SourceText(name: "c.yaml", text: Self.noisy)
        let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
        let findings = Linter.check(input, policy: policy, mode: .lint)
        #expect(findings.map(\.rule) == [.receiverNoAuth])
        #expect(findings.first?.severity == .error)
        #expect(policy.threshold == .warning)
    }

    @Test func unknownRulesInThePolicyAreErrors() {
        let cases = [
            ("disable: [no-such-rule]\n", "p:1: unknown rule 'no-such-rule' in 'disable'"),
            ("enable: [all, nope]\n", "p:1: unknown rule 'nope' in 'enable'"),
            ("rules:\n  unused-component: error\n  unused-componentt: off\n", "p:3: unknown rule 'unused-componentt'"),
            ("rules: {unused-component: loud}\n", "p:1: 'loud' is not off, info, warning or error"),
        ]
        for (yaml, message) in cases {
            let error = #expect(throws: LoadError.self) { try LintPolicy(yaml: yaml, file: "p") }
            #expect(error?.message == message, "\(yaml)")
        }
    }

    /// A comment is not checked like the settings file: ids that name no rule are skipped, the rest still apply.
    @Test func inlineDisableSkipsUnknownIdsAndTakesAll() {
        let unknown = Self.noisy.replacingOccurrences(
            of: "0.0.0.0:4317", with: "0.0.0.0:4317  # ampora-lint: disable=no-such-rule,receiver-no-auth")
        let known = Self.noisy.replacingOccurrences(
            of: "0.0.0.0:4317", with: "0.0.0.0:4317  # ampora-lint: disable=receiver-no-auth")
        #expect(!TestSupport.lint(unknown).contains { $0.rule == .receiverNoAuth })
        #expect(TestSupport.lint(unknown).map(\.rule) == TestSupport.lint(known).map(\.rule))
        let all = Self.noisy.replacingOccurrences(of: "0.0.0.0:4317", with: "0.0.0.0:4317  # ampora-lint: disable=all")
        #expect(!TestSupport.lint(all).contains { $0.position.line == 8 })
        #expect(TestSupport.lint(Self.noisy).contains { $0.position.line == 8 })
    }

    @Test func disableAllThenEnable() throws {
        let policy = try LintPolicy(yaml: "disable: [all]\nenable: [receiver-no-auth]\n", file: "p")
        let source = SourceText(name: "c.yaml", text: Self.noisy)
        let input = LoadedInput(sources: [source.name: source], units: [Loader.unit([source])])
        #expect(Linter.check(input, policy: policy, mode: .lint).map(\.rule) == [.receiverNoAuth])
    }
}
