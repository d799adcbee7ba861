import Foundation

@testable import Toolkit

/// One config that triggers a rule and one that does not.
struct RuleCase: Sendable, CustomStringConvertible {
    var rule: RuleID
    var triggering: String
    var clean: String
    var options = CheckOptions()

    var description: String { rule.rawValue }
}

private let b = TestSupport.self

private let connectorPair = """
    receivers:
      otlp:
        protocols:
          grpc:
            endpoint: localhost:4317
    exporters:
      otlp_grpc:
        endpoint: collector.example.com:4317
    connectors:
      forward:
    service:
      pipelines:
        traces/a:
          receivers: [otlp]
          exporters: [forward]
        traces/b:
          receivers: [forward]
          exporters: [otlp_grpc]

    """

private let spanMetrics = """
    receivers:
      otlp:
        protocols:
          grpc:
            endpoint: localhost:4317
    exporters:
      otlp_grpc:
        endpoint: collector.example.com:4317
    connectors:
      span_metrics:
    service:
      pipelines:
        SIGNAL:
          receivers: [otlp]
          exporters: [span_metrics]
        metrics:
          receivers: [span_metrics]
          exporters: [otlp_grpc]

    """

private func ottl(_ statement: String) -> String {
    b.base("  batch:\n", "  batch:\n  transform:\n    trace_statements:\n      - \(statement)\n")
        .replacingOccurrences(of: "[memory_limiter, batch]", with: "[memory_limiter, transform, batch]")
}

private func exporterSetting(_ lines: String) -> String {
    b.base("    endpoint: collector.example.com:4317\n", "    endpoint: collector.example.com:4317\n" + lines)
}

/// Every rule in the catalogue, with a triggering and a clean config.
let ruleCases: [RuleCase] = [
    RuleCase(rule: .yamlSyntax, triggering: "receivers: [otlp\n", clean: b.base),
    RuleCase(rule: .configEmpty, triggering: "- just\n- a list\n", clean: b.base),
    RuleCase(rule: .unknownTopLevelKey, triggering: b.base + "pipelines: {}\n", clean: b.base),
    RuleCase(
        rule: .sectionShape, triggering: b.base("exporters: [otlp_grpc]", "exporters: otlp_grpc"), clean: b.base),
    RuleCase(
        rule: .noPipelines,
        triggering: "receivers:\n  otlp:\n    protocols:\n      grpc:\nservice:\n  extensions: []\n", clean: b.base),
    RuleCase(rule: .pipelineNoReceivers, triggering: b.base("      receivers: [otlp]\n", ""), clean: b.base),
    RuleCase(rule: .pipelineNoExporters, triggering: b.base("      exporters: [otlp_grpc]\n", ""), clean: b.base),
    RuleCase(
        rule: .invalidComponentID, triggering: b.base("  batch:\n", "  batch:\n  attributes/:\n"),
        clean: b.base("  batch:\n", "  batch:\n  attributes/x:\n")),
    RuleCase(rule: .invalidPipelineID, triggering: b.base("    traces:\n", "    spans:\n"), clean: b.base),
    RuleCase(
        rule: .duplicateProcessor,
        triggering: b.base("[memory_limiter, batch]", "[memory_limiter, batch, batch]"), clean: b.base),
    RuleCase(
        rule: .duplicatePipelineEntry, triggering: b.base("receivers: [otlp]", "receivers: [otlp, otlp]"),
        clean: b.base),
    RuleCase(
        rule: .invalidServiceSection,
        triggering: b.base("service:\n", "service:\n  telemetry:\n    log:\n      level: debug\n"),
        clean: b.base("service:\n", "service:\n  telemetry:\n    logs:\n      level: debug\n")),
    RuleCase(
        rule: .requiredSettingMissing,
        triggering: b.base("    endpoint: collector.example.com:4317\n", "    compression: gzip\n"), clean: b.base),
    RuleCase(
        rule: .invalidDuration, triggering: b.base("check_interval: 1s", "check_interval: 1 second"),
        clean: b.base("check_interval: 1s", "check_interval: 1m30s")),
    RuleCase(
        rule: .removedSetting,
        triggering: b.base("    limit_mib: 512\n", "    limit_mib: 512\n    ballast_size_mib: 100\n"), clean: b.base),
    RuleCase(
        rule: .batchSizeInverted,
        triggering: b.base("  batch:\n", "  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 500\n"),
        clean: b.base("  batch:\n", "  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 2000\n")),
    RuleCase(
        rule: .undeclaredComponent,
        triggering: b.base("[memory_limiter, batch]", "[memory_limiter, batch, attributes]"), clean: b.base),
    RuleCase(
        rule: .undeclaredExtension,
        triggering: b.base("extensions: [health_check]", "extensions: [health_check, pprof]"),
        clean: b.base),
    RuleCase(
        rule: .connectorIDClash,
        triggering: connectorPair.replacingOccurrences(
            of: "exporters:\n  otlp_grpc:", with: "exporters:\n  forward:\n  otlp_grpc:"),
        clean: connectorPair),
    RuleCase(
        rule: .connectorOneSided,
        triggering: connectorPair.replacingOccurrences(of: "receivers: [forward]", with: "receivers: [otlp]"),
        clean: connectorPair),
    RuleCase(
        rule: .connectorSignalUnsupported, triggering: spanMetrics.replacingOccurrences(of: "SIGNAL", with: "logs"),
        clean: spanMetrics.replacingOccurrences(of: "SIGNAL", with: "traces")),
    RuleCase(
        rule: .connectorCycle,
        triggering: connectorPair.replacingOccurrences(
            of: "receivers: [otlp]\n      exporters: [forward]",
            with: "receivers: [otlp, forward]\n      exporters: [forward]"
        )
        .replacingOccurrences(of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, forward]"),
        clean: connectorPair),
    RuleCase(
        rule: .componentSignalUnsupported,
        triggering: b.base(
            "  otlp:\n    protocols:", "  host_metrics:\n    scrapers:\n      cpu:\n  otlp:\n    protocols:"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, host_metrics]"),
        clean: b.base("  otlp:\n    protocols:", "  host_metrics:\n    scrapers:\n      cpu:\n  otlp:\n    protocols:")
            .replacingOccurrences(of: "    traces:\n", with: "    metrics:\n")
            .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, host_metrics]")),
    RuleCase(
        rule: .invalidReference, triggering: b.base("collector.example.com:4317", "${env:}:4317"),
        clean: b.base("collector.example.com:4317", "${env:HOST:-collector.example.com}:4317")),
    RuleCase(rule: .unknownComponentType, triggering: b.base("  batch:\n", "  batch:\n  batchy:\n"), clean: b.base),
    RuleCase(
        rule: .removedComponentType, triggering: b.base("exporters:\n", "exporters:\n  logging:\n"), clean: b.base),
    RuleCase(
        rule: .deprecatedAlias,
        triggering: b.base("  otlp_grpc:\n", "  otlp:\n").replacingOccurrences(of: "[otlp_grpc]", with: "[otlp]"),
        clean: b.base),
    RuleCase(
        rule: .deprecatedComponent,
        triggering: b.base("receivers:\n", "receivers:\n  signalfx:\n").replacingOccurrences(
            of: "    traces:\n", with: "    metrics:\n"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, signalfx]"),
        clean: b.base),
    RuleCase(
        rule: .unstableComponent, triggering: b.base,
        clean: b.base("extensions:\n  health_check:\n    endpoint: localhost:13133\n", "")
            .replacingOccurrences(of: "  extensions: [health_check]\n", with: "")),
    RuleCase(
        rule: .unmaintainedComponent,
        triggering: b.base("receivers:\n", "receivers:\n  prometheus_simple:\n").replacingOccurrences(
            of: "    traces:\n", with: "    metrics:\n"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, prometheus_simple]"),
        clean: b.base),
    RuleCase(
        rule: .memoryLimiterMissing, triggering: b.base("[memory_limiter, batch]", "[batch]"), clean: b.base),
    RuleCase(
        rule: .memoryLimiterNotFirst, triggering: b.base("[memory_limiter, batch]", "[batch, memory_limiter]"),
        clean: b.base),
    RuleCase(
        rule: .batchMissing, triggering: b.base("[memory_limiter, batch]", "[memory_limiter]"),
        clean: exporterSetting("    sending_queue:\n      batch:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter]")),
    RuleCase(
        rule: .batchOrder,
        triggering: b.base("  batch:\n", "  batch:\n  filter:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, batch, filter]"),
        clean: b.base("  batch:\n", "  batch:\n  filter:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, filter, batch]")),
    RuleCase(
        rule: .exporterRetryDisabled, triggering: exporterSetting("    retry_on_failure:\n      enabled: false\n"),
        clean: exporterSetting("    retry_on_failure:\n      enabled: true\n")),
    RuleCase(
        rule: .exporterQueueDisabled, triggering: exporterSetting("    sending_queue:\n      enabled: false\n"),
        clean: exporterSetting("    sending_queue:\n      enabled: true\n")),
    RuleCase(
        rule: .queueSizing, triggering: exporterSetting("    sending_queue:\n      queue_size: 5\n"),
        clean: exporterSetting("    sending_queue:\n      queue_size: 5000\n")),
    RuleCase(
        rule: .debugOnlyExporter,
        triggering: b.base("exporters:\n", "exporters:\n  debug:\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [debug]"),
        clean: b.base("exporters:\n", "exporters:\n  debug:\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]")),
    RuleCase(
        rule: .debugVerbosityDetailed,
        triggering: b.base("exporters:\n", "exporters:\n  debug:\n    verbosity: detailed\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]"),
        clean: b.base("exporters:\n", "exporters:\n  debug:\n    verbosity: basic\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]")),
    RuleCase(
        rule: .unusedComponent,
        triggering: b.base("  batch:\n", "  batch:\n  attributes/unused:\n    actions: []\n"), clean: b.base),
    RuleCase(
        rule: .extensionNotEnabled, triggering: b.base("extensions: [health_check]", "extensions: []"),
        clean: b.base),
    RuleCase(
        rule: .envUnsetNoDefault, triggering: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST}:4317"),
        clean: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST:-collector.example.com}:4317"),
        options: CheckOptions(reportUnsetEnvironment: true)),
    RuleCase(
        rule: .bareEnvVar, triggering: b.base("collector.example.com:4317", "$COLLECTOR_HOST:4317"),
        clean: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST:-collector.example.com}:4317")),
    RuleCase(
        rule: .ottlMisread, triggering: ottl(#"set(attributes["a"], "b: c")"#),
        clean: ottl(#"'set(attributes["a"], "b: c")'"#)),
    RuleCase(
        rule: .ottlUnquoted, triggering: ottl(#"set(attributes["a"], "b #c")"#),
        clean: ottl(#"set(attributes["a"], "b") # a comment YAML drops"#)),
    RuleCase(
        rule: .templateMarker, triggering: b.base("collector.example.com:4317", "\"{{ .Values.host }}:4317\""),
        clean: b.base),
    RuleCase(
        rule: .configTooLarge, triggering: b.base, clean: b.base,
        options: CheckOptions(maxConfigBytes: 100)),
    RuleCase(
        rule: .profilesSignal,
        triggering: b.base(
            "      exporters: [otlp_grpc]\n",
            "      exporters: [otlp_grpc]\n    profiles:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n"),
        clean: b.base),
    RuleCase(
        rule: .telemetryMetricsAddress,
        triggering: b.base("service:\n", "service:\n  telemetry:\n    metrics:\n      address: localhost:8888\n"),
        clean: b.base("service:\n", "service:\n  telemetry:\n    metrics:\n      level: normal\n"),
        options: CheckOptions(collectorVersion: CollectorVersion(0, 127))),
    RuleCase(
        rule: .tailSamplingNoPolicies,
        triggering: b.base("  batch:\n", "  batch:\n  tail_sampling:\n    decision_wait: 10s\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, tail_sampling, batch]"),
        clean: b.base(
            "  batch:\n", "  batch:\n  tail_sampling:\n    policies:\n      - name: all\n        type: always_sample\n"
        )
        .replacingOccurrences(of: "[memory_limiter, batch]", with: "[memory_limiter, tail_sampling, batch]")),
    RuleCase(
        rule: .healthCheckMissing, triggering: b.base("extensions: [health_check]", "extensions: []"),
        clean: b.base),
    RuleCase(
        rule: .tlsInsecureRemote, triggering: exporterSetting("    tls:\n      insecure: true\n"),
        clean: exporterSetting("    tls:\n      insecure: true\n").replacingOccurrences(
            of: "collector.example.com:4317", with: "localhost:4317")),
    RuleCase(
        rule: .tlsSkipVerify, triggering: exporterSetting("    tls:\n      insecure_skip_verify: true\n"),
        clean: exporterSetting("    tls:\n      insecure_skip_verify: false\n")),
    RuleCase(
        rule: .tlsOldVersion, triggering: exporterSetting("    tls:\n      min_version: \"1.1\"\n"),
        clean: exporterSetting("    tls:\n      min_version: \"1.3\"\n")),
    RuleCase(
        rule: .inlinePrivateKey,
        triggering: exporterSetting(
            "    tls:\n      key_pem: \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\"\n"),
        clean: exporterSetting("    tls:\n      key_file: /etc/otel/key.pem\n")),
    RuleCase(
        rule: .plaintextSecret, triggering: exporterSetting("    headers:\n      authorization: Bearer abc123\n"),
        clean: exporterSetting("    headers:\n      authorization: Bearer ${env:TOKEN}\n")),
    RuleCase(
        rule: .corsWildcard,
        triggering: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: localhost:4317\n      http:\n        endpoint: localhost:4318\n        cors:\n          allowed_origins: [\"*\"]\n"
        ),
        clean: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: localhost:4317\n      http:\n        endpoint: localhost:4318\n        cors:\n          allowed_origins: [\"https://app.example.com\"]\n"
        )),
    RuleCase(
        rule: .listenAllInterfaces, triggering: b.base("endpoint: localhost:13133", "endpoint: 0.0.0.0:13133"),
        clean: b.base),
    RuleCase(
        rule: .invalidValue, triggering: b.base("  batch:\n", "  batch:\n    timeout: -5s\n"),
        clean: b.base("  batch:\n", "  batch:\n    timeout: 5s\n")),
    RuleCase(
        rule: .unresolvedExtension,
        triggering: exporterSetting("    auth:\n      authenticator: oauth2client\n"),
        clean: exporterSetting("    auth:\n      authenticator: oauth2client\n")
            .replacingOccurrences(of: "  health_check:\n", with: "  health_check:\n  oauth2client:\n")
            .replacingOccurrences(of: "[health_check]", with: "[health_check, oauth2client]")),
    RuleCase(
        rule: .portConflict, triggering: b.base("endpoint: localhost:13133", "endpoint: localhost:4317"),
        clean: b.base),
    RuleCase(
        rule: .debugExtensionExposed,
        triggering: b.base("extensions:\n", "extensions:\n  pprof:\n    endpoint: 0.0.0.0:1777\n").replacingOccurrences(
            of: "extensions: [health_check]", with: "extensions: [health_check, pprof]"),
        clean: b.base("extensions:\n", "extensions:\n  pprof:\n    endpoint: localhost:1777\n").replacingOccurrences(
            of: "extensions: [health_check]", with: "extensions: [health_check, pprof]")),
    RuleCase(
        rule: .receiverNoAuth, triggering: b.base("endpoint: localhost:4317", "endpoint: 0.0.0.0:4317"),
        clean: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: 0.0.0.0:4317\n        auth:\n          authenticator: bearertokenauth\n")),
]
