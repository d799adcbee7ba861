import Testing

@testable import Toolkit

/// The contrib, k8s and otlp distributions by release, from the builder manifests in
/// opentelemetry-collector-releases (scripts/data/distributions.tsv). Each case cites the manifest fact it
/// relies on; the Collector built from a manifest refuses any type the manifest does not list with
/// "unknown type: \"x\" for id: \"x\"".
@Suite struct DistributionTests {
    /// Refusals of `yaml` (validate) for a distribution at `v0.minor`, as "rule: message" lines.
    static func refusals(_ yaml: String, _ distribution: String, _ minor: Int) throws -> [String] {
        let registry = try ComponentRegistry.distribution(distribution, version: CollectorVersion(0, minor))
        return TestSupport.lint(yaml, options: CheckOptions(registry: registry), mode: .validate).map {
            "\($0.rule.rawValue): \($0.message)"
        }
    }

    /// A Kubernetes node agent: every type is in the k8s manifest; `datadog` is contrib only.
    static let k8sAgent = """
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: localhost:4317
          kubelet_stats:
            auth_type: serviceAccount
        processors:
          memory_limiter:
            check_interval: 1s
            limit_mib: 512
          k8s_attributes:
        exporters:
          otlp_grpc:
            endpoint: gateway.example.com:4317
        service:
          pipelines:
            metrics:
              receivers: [otlp, kubelet_stats]
              processors: [memory_limiter, k8s_attributes]
              exporters: [otlp_grpc]

        """

    static let withDatadog = k8sAgent.replacingOccurrences(
        of: "exporters:\n  otlp_grpc:\n",
        with: "exporters:\n  datadog:\n    api:\n      key: ${env:DD_API_KEY}\n  otlp_grpc:\n"
    ).replacingOccurrences(of: "exporters: [otlp_grpc]", with: "exporters: [otlp_grpc, datadog]")

    @Test func contribHasWhatK8sLacks() throws {
        // distributions/otelcol-contrib/manifest.yaml lists datadogexporter; distributions/otelcol-k8s does not.
        #expect(try Self.refusals(Self.withDatadog, "contrib", 158).isEmpty)
        #expect(
            try Self.refusals(Self.withDatadog, "k8s", 158) == [
                "unknown-component-type: unknown exporter type 'datadog' (not part of the k8s distribution)"
            ])
        #expect(try Self.refusals(Self.k8sAgent, "k8s", 158).isEmpty)
    }

    @Test func contribDropsTypesByRelease() throws {
        // otelcol-contrib's manifest lists sapmexporter up to v0.146.0 and no longer from v0.147.0.
        let sapm = Self.k8sAgent.replacingOccurrences(
            of: "  otlp_grpc:\n    endpoint: gateway.example.com:4317\n",
            with: "  sapm:\n    endpoint: https://ingest.example.com/v2/trace\n"
        ).replacingOccurrences(of: "[otlp_grpc]", with: "[sapm]")
        #expect(try Self.refusals(sapm, "contrib", 146).isEmpty)
        let removed = try Self.refusals(sapm, "contrib", 147)
        #expect(removed.count == 1 && removed[0].hasPrefix("removed-component-type: exporter type 'sapm' was removed"))
    }

    @Test func k8sStartsAtItsFirstManifest() throws {
        // distributions/otelcol-k8s first shipped with v0.98.0; a release before it has no such list.
        // Before v0.144.0 the OTLP gRPC exporter's type was `otlp` (exporter/otlpexporter/metadata.yaml).
        let older = Self.k8sAgent.replacingOccurrences(of: "otlp_grpc", with: "otlp")
        #expect(try Self.refusals(older, "k8s", 98).isEmpty)
        let before = try Self.refusals(Self.k8sAgent, "k8s", 97)
        #expect(before.count == 5)
        #expect(
            before.contains(
                "unknown-component-type: unknown receiver type 'kubelet_stats' (added to the k8s distribution in v0.98)"
            ))
        // opencensusreceiver was in the k8s manifest up to v0.131.0.
        let opencensus = older.replacingOccurrences(of: "  kubelet_stats:\n", with: "  opencensus:\n")
            .replacingOccurrences(of: "    auth_type: serviceAccount\n", with: "")
            .replacingOccurrences(of: "[otlp, kubelet_stats]", with: "[otlp, opencensus]")
        #expect(try Self.refusals(opencensus, "k8s", 131).isEmpty)
        #expect(try Self.refusals(opencensus, "k8s", 132).map { $0.prefix(22) } == ["removed-component-type"])
    }

    @Test func otlpIsOnlyOTLPInAndOut() throws {
        // distributions/otelcol-otlp (from v0.111.0) holds the otlp receiver and the otlp and otlphttp exporters
        // only: no processors, no extensions.
        let refused = try Self.refusals(Self.k8sAgent, "otlp", 158)
        #expect(
            refused == [
                "unknown-component-type: unknown receiver type 'kubelet_stats' (not part of the otlp distribution)",
                "unknown-component-type: unknown processor type 'memory_limiter' (not part of the otlp distribution)",
                "unknown-component-type: unknown processor type 'k8s_attributes' (not part of the otlp distribution)",
            ])
        let plain = """
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: localhost:4318
            exporters:
              otlp_http:
                endpoint: https://otlp.example.com
            service:
              pipelines:
                logs:
                  receivers: [otlp]
                  exporters: [otlp_http]

            """
        #expect(try Self.refusals(plain, "otlp", 158).isEmpty)
        #expect(try Self.refusals(plain, "otlp", 110).count == 2, "no otlp distribution before v0.111")
    }

    @Test func vendorTypesAddToAnOfficialList() throws {
        // A vendor build on top of contrib: --registry-add keeps contrib's types and adds the vendor's.
        var registry = try ComponentRegistry.distribution("contrib", version: CollectorVersion(0, 158))
        let smartagent = Self.k8sAgent.replacingOccurrences(of: "  kubelet_stats:\n", with: "  smartagent:\n")
            .replacingOccurrences(of: "    auth_type: serviceAccount\n", with: "    type: collectd/redis\n")
            .replacingOccurrences(of: "[otlp, kubelet_stats]", with: "[otlp, smartagent]")
        #expect(
            TestSupport.lint(smartagent, options: CheckOptions(registry: registry), mode: .validate).map(\.rule) == [
                .unknownComponentType
            ])
        registry.add([RegistryRow(kind: "receiver", type: "smartagent", stability: "beta:metrics", note: "Splunk")])
        #expect(TestSupport.lint(smartagent, options: CheckOptions(registry: registry), mode: .validate).isEmpty)
    }
}
