import Foundation

@testable import Toolkit

/// One config that triggers a rule and one that does not.
struct RuleCase: Sendable, CustomStringConvertible {
    var rule: String
    var triggering: String
    var clean: String
    var options = CheckOptions()

    var description: String { rule }
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
    RuleCase(rule: "yaml-syntax", triggering: "receivers: [otlp\n", clean: b.base),
    RuleCase(rule: "config-empty", triggering: "- just\n- a list\n", clean: b.base),
    RuleCase(rule: "unknown-top-level-key", triggering: b.base + "pipelines: {}\n", clean: b.base),
    RuleCase(
        rule: "section-shape", triggering: b.base("exporters: [otlp_grpc]", "exporters: otlp_grpc"), clean: b.base),
    RuleCase(
        rule: "no-pipelines",
        triggering: "receivers:\n  otlp:\n    protocols:\n      grpc:\nservice:\n  extensions: []\n", clean: b.base),
    RuleCase(rule: "pipeline-no-receivers", triggering: b.base("      receivers: [otlp]\n", ""), clean: b.base),
    RuleCase(rule: "pipeline-no-exporters", triggering: b.base("      exporters: [otlp_grpc]\n", ""), clean: b.base),
    RuleCase(
        rule: "invalid-component-id", triggering: b.base("  batch:\n", "  batch:\n  attributes/:\n"),
        clean: b.base("  batch:\n", "  batch:\n  attributes/x:\n")),
    RuleCase(rule: "invalid-pipeline-id", triggering: b.base("    traces:\n", "    spans:\n"), clean: b.base),
    RuleCase(
        rule: "duplicate-processor",
        triggering: b.base("[memory_limiter, batch]", "[memory_limiter, batch, batch]"), clean: b.base),
    RuleCase(
        rule: "duplicate-pipeline-entry", triggering: b.base("receivers: [otlp]", "receivers: [otlp, otlp]"),
        clean: b.base),
    RuleCase(
        rule: "invalid-service-section",
        triggering: b.base("service:\n", "service:\n  telemetry:\n    log:\n      level: debug\n"),
        clean: b.base("service:\n", "service:\n  telemetry:\n    logs:\n      level: debug\n")),
    RuleCase(
        rule: "required-setting-missing",
        triggering: b.base("    endpoint: collector.example.com:4317\n", "    compression: gzip\n"), clean: b.base),
    RuleCase(
        rule: "invalid-duration", triggering: b.base("check_interval: 1s", "check_interval: 1 second"),
        clean: b.base("check_interval: 1s", "check_interval: 1m30s")),
    RuleCase(
        rule: "removed-setting",
        triggering: b.base("    limit_mib: 512\n", "    limit_mib: 512\n    ballast_size_mib: 100\n"), clean: b.base),
    RuleCase(
        rule: "batch-size-inverted",
        triggering: b.base("  batch:\n", "  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 500\n"),
        clean: b.base("  batch:\n", "  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 2000\n")),
    RuleCase(
        rule: "undeclared-component",
        triggering: b.base("[memory_limiter, batch]", "[memory_limiter, batch, attributes]"), clean: b.base),
    RuleCase(
        rule: "undeclared-extension",
        triggering: b.base("extensions: [health_check]", "extensions: [health_check, pprof]"),
        clean: b.base),
    RuleCase(
        rule: "connector-id-clash",
        triggering: connectorPair.replacingOccurrences(
            of: "exporters:\n  otlp_grpc:", with: "exporters:\n  forward:\n  otlp_grpc:"),
        clean: connectorPair),
    RuleCase(
        rule: "connector-one-sided",
        triggering: connectorPair.replacingOccurrences(of: "receivers: [forward]", with: "receivers: [otlp]"),
        clean: connectorPair),
    RuleCase(
        rule: "connector-signal-unsupported", triggering: spanMetrics.replacingOccurrences(of: "SIGNAL", with: "logs"),
        clean: spanMetrics.replacingOccurrences(of: "SIGNAL", with: "traces")),
    RuleCase(
        rule: "connector-cycle",
        triggering: connectorPair.replacingOccurrences(
            of: "receivers: [otlp]\n      exporters: [forward]",
            with: "receivers: [otlp, forward]\n      exporters: [forward]"
        )
        .replacingOccurrences(of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, forward]"),
        clean: connectorPair),
    RuleCase(
        rule: "component-signal-unsupported",
        triggering: b.base(
            "  otlp:\n    protocols:", "  host_metrics:\n    scrapers:\n      cpu:\n  otlp:\n    protocols:"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, host_metrics]"),
        clean: b.base("  otlp:\n    protocols:", "  host_metrics:\n    scrapers:\n      cpu:\n  otlp:\n    protocols:")
            .replacingOccurrences(of: "    traces:\n", with: "    metrics:\n")
            .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, host_metrics]")),
    RuleCase(
        rule: "invalid-reference", triggering: b.base("collector.example.com:4317", "${env:}:4317"),
        clean: b.base("collector.example.com:4317", "${env:HOST:-collector.example.com}:4317")),
    RuleCase(rule: "unknown-component-type", triggering: b.base("  batch:\n", "  batch:\n  batchy:\n"), clean: b.base),
    RuleCase(
        rule: "removed-component-type", triggering: b.base("exporters:\n", "exporters:\n  logging:\n"), clean: b.base),
    RuleCase(
        rule: "deprecated-alias",
        triggering: b.base("  otlp_grpc:\n", "  otlp:\n").replacingOccurrences(of: "[otlp_grpc]", with: "[otlp]"),
        clean: b.base),
    RuleCase(
        rule: "deprecated-component",
        triggering: b.base("receivers:\n", "receivers:\n  signalfx:\n").replacingOccurrences(
            of: "    traces:\n", with: "    metrics:\n"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, signalfx]"),
        clean: b.base),
    RuleCase(
        rule: "unstable-component", triggering: b.base,
        clean: b.base("extensions:\n  health_check:\n    endpoint: localhost:13133\n", "")
            .replacingOccurrences(of: "  extensions: [health_check]\n", with: "")),
    RuleCase(
        rule: "unmaintained-component",
        triggering: b.base("receivers:\n", "receivers:\n  prometheus_simple:\n").replacingOccurrences(
            of: "    traces:\n", with: "    metrics:\n"
        )
        .replacingOccurrences(of: "receivers: [otlp]", with: "receivers: [otlp, prometheus_simple]"),
        clean: b.base),
    RuleCase(
        rule: "memory-limiter-missing", triggering: b.base("[memory_limiter, batch]", "[batch]"), clean: b.base),
    RuleCase(
        rule: "memory-limiter-not-first", triggering: b.base("[memory_limiter, batch]", "[batch, memory_limiter]"),
        clean: b.base),
    RuleCase(
        rule: "batch-missing", triggering: b.base("[memory_limiter, batch]", "[memory_limiter]"),
        clean: exporterSetting("    sending_queue:\n      batch:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter]")),
    RuleCase(
        rule: "batch-order",
        triggering: b.base("  batch:\n", "  batch:\n  filter:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, batch, filter]"),
        clean: b.base("  batch:\n", "  batch:\n  filter:\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, filter, batch]")),
    RuleCase(
        rule: "exporter-retry-disabled", triggering: exporterSetting("    retry_on_failure:\n      enabled: false\n"),
        clean: exporterSetting("    retry_on_failure:\n      enabled: true\n")),
    RuleCase(
        rule: "exporter-queue-disabled", triggering: exporterSetting("    sending_queue:\n      enabled: false\n"),
        clean: exporterSetting("    sending_queue:\n      enabled: true\n")),
    RuleCase(
        rule: "queue-sizing", triggering: exporterSetting("    sending_queue:\n      queue_size: 5\n"),
        clean: exporterSetting("    sending_queue:\n      queue_size: 5000\n")),
    RuleCase(
        rule: "debug-only-exporter",
        triggering: b.base("exporters:\n", "exporters:\n  debug:\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [debug]"),
        clean: b.base("exporters:\n", "exporters:\n  debug:\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]")),
    RuleCase(
        rule: "debug-verbosity-detailed",
        triggering: b.base("exporters:\n", "exporters:\n  debug:\n    verbosity: detailed\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]"),
        clean: b.base("exporters:\n", "exporters:\n  debug:\n    verbosity: basic\n").replacingOccurrences(
            of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, debug]")),
    RuleCase(
        rule: "unused-component",
        triggering: b.base("  batch:\n", "  batch:\n  attributes/unused:\n    actions: []\n"), clean: b.base),
    RuleCase(
        rule: "extension-not-enabled", triggering: b.base("extensions: [health_check]", "extensions: []"),
        clean: b.base),
    RuleCase(
        rule: "env-unset-no-default", triggering: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST}:4317"),
        clean: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST:-collector.example.com}:4317"),
        options: CheckOptions(reportUnsetEnvironment: true)),
    RuleCase(
        rule: "bare-env-var", triggering: b.base("collector.example.com:4317", "$COLLECTOR_HOST:4317"),
        clean: b.base("collector.example.com:4317", "${env:COLLECTOR_HOST:-collector.example.com}:4317")),
    RuleCase(
        rule: "ottl-misread", triggering: ottl(#"set(attributes["a"], "b: c")"#),
        clean: ottl(#"'set(attributes["a"], "b: c")'"#)),
    RuleCase(
        rule: "ottl-unquoted", triggering: ottl(#"set(attributes["a"], "b #c")"#),
        clean: ottl(#"set(attributes["a"], "b") # a comment YAML drops"#)),
    RuleCase(
        rule: "template-marker", triggering: b.base("collector.example.com:4317", "\"{{ .Values.host }}:4317\""),
        clean: b.base),
    RuleCase(
        rule: "config-too-large", triggering: b.base, clean: b.base,
        options: CheckOptions(maxConfigBytes: 100)),
    RuleCase(
        rule: "profiles-signal",
        triggering: b.base(
            "      exporters: [otlp_grpc]\n",
            "      exporters: [otlp_grpc]\n    profiles:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n"),
        clean: b.base),
    RuleCase(
        rule: "telemetry-metrics-address",
        triggering: b.base("service:\n", "service:\n  telemetry:\n    metrics:\n      address: localhost:8888\n"),
        clean: b.base("service:\n", "service:\n  telemetry:\n    metrics:\n      level: normal\n"),
        options: CheckOptions(collectorVersion: CollectorVersion(0, 127))),
    RuleCase(
        rule: "tail-sampling-no-policies",
        triggering: b.base("  batch:\n", "  batch:\n  tail_sampling:\n    decision_wait: 10s\n").replacingOccurrences(
            of: "[memory_limiter, batch]", with: "[memory_limiter, tail_sampling, batch]"),
        clean: b.base(
            "  batch:\n", "  batch:\n  tail_sampling:\n    policies:\n      - name: all\n        type: always_sample\n"
        )
        .replacingOccurrences(of: "[memory_limiter, batch]", with: "[memory_limiter, tail_sampling, batch]")),
    RuleCase(
        rule: "health-check-missing", triggering: b.base("extensions: [health_check]", "extensions: []"),
        clean: b.base),
    RuleCase(
        rule: "tls-insecure-remote", triggering: exporterSetting("    tls:\n      insecure: true\n"),
        clean: exporterSetting("    tls:\n      insecure: true\n").replacingOccurrences(
            of: "collector.example.com:4317", with: "localhost:4317")),
    RuleCase(
        rule: "tls-skip-verify", triggering: exporterSetting("    tls:\n      insecure_skip_verify: true\n"),
        clean: exporterSetting("    tls:\n      insecure_skip_verify: false\n")),
    RuleCase(
        rule: "tls-old-version", triggering: exporterSetting("    tls:\n      min_version: \"1.1\"\n"),
        clean: exporterSetting("    tls:\n      min_version: \"1.3\"\n")),
    RuleCase(
        rule: "inline-private-key",
        triggering: exporterSetting(
            "    tls:\n      key_pem: \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\"\n"),
        clean: exporterSetting("    tls:\n      key_file: /etc/otel/key.pem\n")),
    RuleCase(
        rule: "plaintext-secret", triggering: exporterSetting("    headers:\n      authorization: Bearer abc123\n"),
        clean: exporterSetting("    headers:\n      authorization: Bearer ${env:TOKEN}\n")),
    RuleCase(
        rule: "cors-wildcard",
        triggering: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: localhost:4317\n      http:\n        endpoint: localhost:4318\n        cors:\n          allowed_origins: [\"*\"]\n"
        ),
        clean: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: localhost:4317\n      http:\n        endpoint: localhost:4318\n        cors:\n          allowed_origins: [\"https://app.example.com\"]\n"
        )),
    RuleCase(
        rule: "listen-all-interfaces", triggering: b.base("endpoint: localhost:13133", "endpoint: 0.0.0.0:13133"),
        clean: b.base),
    RuleCase(
        rule: "invalid-value", triggering: b.base("  batch:\n", "  batch:\n    timeout: -5s\n"),
        clean: b.base("  batch:\n", "  batch:\n    timeout: 5s\n")),
    RuleCase(
        rule: "unresolved-extension",
        triggering: exporterSetting("    auth:\n      authenticator: oauth2client\n"),
        clean: exporterSetting("    auth:\n      authenticator: oauth2client\n")
            .replacingOccurrences(of: "  health_check:\n", with: "  health_check:\n  oauth2client:\n")
            .replacingOccurrences(of: "[health_check]", with: "[health_check, oauth2client]")),
    RuleCase(
        rule: "port-conflict", triggering: b.base("endpoint: localhost:13133", "endpoint: localhost:4317"),
        clean: b.base),
    RuleCase(
        rule: "debug-extension-exposed",
        triggering: b.base("extensions:\n", "extensions:\n  pprof:\n    endpoint: 0.0.0.0:1777\n").replacingOccurrences(
            of: "extensions: [health_check]", with: "extensions: [health_check, pprof]"),
        clean: b.base("extensions:\n", "extensions:\n  pprof:\n    endpoint: localhost:1777\n").replacingOccurrences(
            of: "extensions: [health_check]", with: "extensions: [health_check, pprof]")),
    RuleCase(
        rule: "receiver-no-auth", triggering: b.base("endpoint: localhost:4317", "endpoint: 0.0.0.0:4317"),
        clean: b.base(
            "        endpoint: localhost:4317\n",
            "        endpoint: 0.0.0.0:4317\n        auth:\n          authenticator: bearertokenauth\n")),
]
