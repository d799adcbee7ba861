import Testing

@testable import Toolkit

/// One test per class of config the Collector refuses, on configs written for the test. Each cites the
/// Collector's behaviour: the release read and what it prints. Core messages were read in the
/// opentelemetry-collector sources at v0.159.0 unless said otherwise; contrib messages are described, not
/// quoted, where its source was not available.
@Suite struct RefusalTests {
    static func refusals(_ yaml: String, options: CheckOptions = CheckOptions()) -> [RuleID] {
        TestSupport.lint(yaml, options: options, mode: .validate).map(\.rule)
    }

    @Test func negativeDurations() {
        // exporterhelper (v0.159.0): "'timeout' must be non-negative"; batch processor: "timeout must be greater
        // or equal to 0".
        let exporter = TestSupport.base(
            "    endpoint: collector.example.com:4317\n", "    endpoint: collector.example.com:4317\n    timeout: -5s\n"
        )
        #expect(Self.refusals(exporter) == [.invalidValue])
        #expect(Self.refusals(TestSupport.base("  batch:\n", "  batch:\n    timeout: -1m\n")) == [.invalidValue])
        // memory_limiter (v0.159.0): "'check_interval' must be greater than zero".
        #expect(Self.refusals(TestSupport.base("check_interval: 1s", "check_interval: 0s")) == [.invalidValue])
        #expect(Self.refusals(TestSupport.base("  batch:\n", "  batch:\n    timeout: 0s\n")).isEmpty)
    }

    @Test func removedSettingFollowsTheVersion() {
        // service/telemetry (v0.127.0 still decodes `address`; v0.128.0 dropped the field): the strict decoder
        // prints "'service.telemetry.metrics' has invalid keys: address".
        let config = TestSupport.base(
            "service:\n", "service:\n  telemetry:\n    metrics:\n      address: localhost:8888\n")
        #expect(
            Self.refusals(config, options: CheckOptions(collectorVersion: CollectorVersion(0, 128))) == [
                .removedSetting
            ])
        #expect(Self.refusals(config, options: CheckOptions(collectorVersion: CollectorVersion(0, 127))).isEmpty)
    }

    @Test func unknownAndRemovedTypes() {
        // otelcol/internal/configunmarshaler (v0.159.0): "unknown type: \"otlpp\" for id: \"otlpp\" (valid values:
        // [...])"; the same for `logging`, whose exporter was removed in v0.111.0.
        let typo = TestSupport.base("  otlp_grpc:\n", "  otlpp:\n").replacingOccurrences(
            of: "[otlp_grpc]", with: "[otlpp]")
        #expect(Self.refusals(typo) == [.unknownComponentType])
        let removed = TestSupport.base("  otlp_grpc:\n    endpoint: collector.example.com:4317\n", "  logging:\n")
            .replacingOccurrences(of: "[otlp_grpc]", with: "[logging]")
        #expect(Self.refusals(removed) == [.removedComponentType])
    }

    @Test func typesFollowTheRelease() throws {
        // exporter/otlpexporter/metadata.yaml: type `otlp` up to v0.143.0, `otlp_grpc` from v0.144.0 (the old
        // name kept as a deprecated alias). A v0.143 Collector prints "unknown type: \"otlp_grpc\"".
        let old = try ComponentRegistry.distribution("core", version: CollectorVersion(0, 143))
        #expect(Self.refusals(TestSupport.base, options: CheckOptions(registry: old)) == [.unknownComponentType])
        let renamed = TestSupport.base.replacingOccurrences(of: "otlp_grpc", with: "otlp")
        #expect(Self.refusals(renamed, options: CheckOptions(registry: old)).isEmpty)
        // The same config one release later: the old name is an alias (a lint finding, not a refusal).
        let new = try ComponentRegistry.distribution("core", version: CollectorVersion(0, 158))
        #expect(new.entry(.exporter, "otlp")?.status == .deprecatedAlias)
        #expect(Self.refusals(renamed, options: CheckOptions(registry: new)).isEmpty)
    }

    @Test func extensionReferences() {
        // config/configauth (v0.159.0): "failed to resolve authenticator \"basicauth/server\": authenticator not
        // found" when the extension is not among the started ones.
        let auth = TestSupport.base(
            "      grpc:\n        endpoint: localhost:4317\n",
            "      grpc:\n        endpoint: localhost:4317\n        auth:\n          authenticator: basicauth/server\n"
        )
        #expect(Self.refusals(auth) == [.unresolvedExtension])
        // exporterhelper persistent queue (v0.159.0): "no storage client extension found".
        let storage = TestSupport.base(
            "    endpoint: collector.example.com:4317\n",
            "    endpoint: collector.example.com:4317\n    sending_queue:\n      storage: file_storage\n")
        #expect(Self.refusals(storage) == [.unresolvedExtension])
        // Declared but not listed in service.extensions: still not started, so still not found.
        let unstarted = storage.replacingOccurrences(
            of: "  health_check:\n", with: "  health_check:\n  file_storage:\n")
        #expect(Self.refusals(unstarted) == [.unresolvedExtension])
        let started = unstarted.replacingOccurrences(of: "[health_check]", with: "[health_check, file_storage]")
        #expect(Self.refusals(started).isEmpty)
        // Contrib receivers that decode with an encoding extension fail to start when it is missing (contrib
        // source not read here; the kafka receiver's `encoding` names either a built-in encoding or an extension).
        let encoding = TestSupport.base(
            "receivers:\n", "receivers:\n  kafka:\n    encoding: otlp_encoding\n"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, kafka]")
        #expect(Self.refusals(encoding) == [.unresolvedExtension])
        let builtin = encoding.replacingOccurrences(of: "encoding: otlp_encoding", with: "encoding: otlp_proto")
        #expect(Self.refusals(builtin).isEmpty)
    }

    @Test func ottlThatYAMLMisreads() {
        // The transform processor decodes statements as strings; a map item fails to decode (mapstructure's
        // "expected type 'string'"), and a statement cut at ' #' fails OTTL parsing at start-up (contrib).
        func transform(_ statement: String) -> String {
            TestSupport.base("  batch:\n", "  batch:\n  transform:\n    trace_statements:\n      - \(statement)\n")
                .replacingOccurrences(of: "[memory_limiter, batch]", with: "[memory_limiter, transform, batch]")
        }
        #expect(Self.refusals(transform(#"set(attributes["a"], "b: c")"#)) == [.ottlMisread])
        #expect(Self.refusals(transform(#"set(attributes["a"], "b #c")"#)) == [.ottlUnquoted])
        #expect(Self.refusals(transform(#"set(attributes["a"], "b") # why"#)).isEmpty)
        #expect(Self.refusals(transform(#"set(attributes["a"], "b")"#)).isEmpty)
    }

    @Test func featureGates() {
        // service/pipelines/config.go (v0.159.0): "pipeline \"profiles\": profiling signal support is at alpha
        // level, gated under the \"service.profilesSupport\" feature gate".
        let config = TestSupport.base(
            "      exporters: [otlp_grpc]\n",
            "      exporters: [otlp_grpc]\n    profiles:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n")
        #expect(Self.refusals(config) == [.profilesSignal])
        #expect(Self.refusals(config, options: CheckOptions(featureGates: ["service.profilesSupport"])).isEmpty)
    }

    @Test func enumerationsPortsAndPercentages() {
        let cases: [(String, String)] = [
            // configcompression (v0.159.0): "unsupported compression type \"brotli\"".
            (
                "    endpoint: collector.example.com:4317\n",
                "    endpoint: collector.example.com:4317\n    compression: brotli\n"
            ),
            // configtls (v0.159.0): "invalid TLS min_version: unsupported TLS version: \"1.4\"".
            (
                "    endpoint: collector.example.com:4317\n",
                "    endpoint: collector.example.com:4317\n    tls:\n      min_version: \"1.4\"\n"
            ),
            // Go's net.Listen: "listen tcp: address 70000: invalid port".
            ("endpoint: localhost:4317", "endpoint: localhost:70000"),
            // internal/memorylimiter (v0.159.0): "'limit_percentage' and 'spike_limit_percentage' must be greater
            // than zero and less than or equal to hundred".
            ("    limit_mib: 512\n", "    limit_percentage: 150\n"),
            // service telemetry logs level, zap: "unrecognized level: \"verbose\"".
            ("service:\n", "service:\n  telemetry:\n    logs:\n      level: verbose\n"),
            // configtelemetry (v0.159.0): "unknown metrics level \"loud\"".
            ("service:\n", "service:\n  telemetry:\n    metrics:\n      level: loud\n"),
        ]
        for (old, new) in cases {
            #expect(Self.refusals(TestSupport.base(old, new)) == [.invalidValue], "\(new)")
        }
        // debugexporter (v0.159.0): "verbosity level \"loud\" is not supported".
        let debug = TestSupport.base("  otlp_grpc:\n", "  debug:\n    verbosity: loud\n  otlp_grpc:\n")
            .replacingOccurrences(of: "[otlp_grpc]", with: "[otlp_grpc, debug]")
        #expect(Self.refusals(debug) == [.invalidValue])
    }

    @Test func duplicateReceiverIsNotARefusal() {
        // service/pipelines/config.go (v0.159.0) refuses only repeated processors ("references processor %q
        // multiple times"); a repeated receiver is accepted, so validate stays silent and lint warns.
        let config = TestSupport.base("receivers: [otlp]", "receivers: [otlp, otlp]")
        #expect(Self.refusals(config).isEmpty)
        #expect(TestSupport.lint(config).contains { $0.rule == .duplicatePipelineEntry })
    }
}

/// The Collector reads one config per source: the file provider unmarshals one YAML document, and a
/// ConfigMap's data keys are separate files once mounted.
@Suite struct OneConfigPerSourceTests {
    static let twoDocuments = """
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: localhost:4317
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [otlp_grpc]
        ---
        exporters:
          otlp_grpc:
            endpoint: collector.example.com:4317

        """

    static func validate(_ text: String, merge: Bool) -> [RuleID] {
        let source = SourceText(name: "multi.yaml", text: text)
        let input = LoadedInput(sources: [source.name: source], units: Loader.units([source], merge: merge))
        return Linter.check(input, mode: .validate).map(\.rule)
    }

    @Test func documentsAreSeparateConfigs() {
        #expect(Self.validate(Self.twoDocuments, merge: false) == [.undeclaredComponent, .noPipelines])
        #expect(Self.validate(Self.twoDocuments, merge: true).isEmpty)
    }

    @Test func configMapKeysAreSeparateConfigs() {
        let configMap = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: collector
            data:
              a.yaml: |
            \(Self.twoDocuments.split(separator: "---")[0].split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
              b.yaml: |
            \(Self.twoDocuments.split(separator: "---")[1].split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))

            """
        #expect(Self.validate(configMap, merge: false) == [.undeclaredComponent, .noPipelines])
        #expect(Self.validate(configMap, merge: true).isEmpty)
    }
}
