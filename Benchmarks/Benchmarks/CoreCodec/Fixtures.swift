// The messages every benchmark decodes or encodes, built once before any measurement.
// Each fixture is encoded by Core and the very same bytes are handed to both decoders.

import Core
import OpAMPPeer

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

enum Fixtures {
    static let uid: [UInt8] = [
        0x01, 0x90, 0x5E, 0x3A, 0x7B, 0x21, 0x70, 0x00, 0x8C, 0x4D, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC,
    ]
    static let agentCaps: AgentCapabilities = [
        .reportsStatus, .acceptsRemoteConfig, .reportsEffectiveConfig, .reportsRemoteConfig,
        .reportsHealth, .reportsHeartbeat,
    ]

    /// A collector config (1.7 KB), as an agent reports in `effective_config`.
    static let yaml: String = {
        var s = """
            receivers:
              otlp:
                protocols:
                  grpc:
                    endpoint: 0.0.0.0:4317
                  http:
                    endpoint: 0.0.0.0:4318
              hostmetrics:
                collection_interval: 30s
                scrapers:
                  cpu: {}
                  memory: {}
                  disk: {}
                  filesystem: {}
                  network: {}
                  load: {}
            processors:
              batch:
                send_batch_size: 8192
                timeout: 5s
              memory_limiter:
                check_interval: 1s
                limit_percentage: 80
                spike_limit_percentage: 25
              resourcedetection:
                detectors: [env, system]
                timeout: 2s
                override: false
              attributes/env:
                actions:
                  - key: deployment.environment
                    value: production
                    action: upsert
            exporters:
              otlp:
                endpoint: gateway.observability.svc.cluster.local:4317
                tls:
                  insecure: false
                  ca_file: /etc/otel/ca.pem
                sending_queue:
                  enabled: true
                  num_consumers: 4
                  queue_size: 5000
                retry_on_failure:
                  enabled: true
                  initial_interval: 5s
                  max_interval: 30s
                  max_elapsed_time: 300s
              debug:
                verbosity: basic
            extensions:
              health_check:
                endpoint: 0.0.0.0:13133
              opamp:
                server:
                  ws:
                    endpoint: wss://opamp.example.com/v1/opamp
            service:
              extensions: [health_check, opamp]
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [memory_limiter, resourcedetection, attributes/env, batch]
                  exporters: [otlp]
                metrics:
                  receivers: [otlp, hostmetrics]
                  processors: [memory_limiter, resourcedetection, attributes/env, batch]
                  exporters: [otlp]
                logs:
                  receivers: [otlp]
                  processors: [memory_limiter, resourcedetection, attributes/env, batch]
                  exporters: [otlp, debug]
              telemetry:
                logs:
                  level: info
                metrics:
                  level: normal

            """
        // Never below 1.5 KB, whatever edits above do.
        while s.utf8.count < 1_500 { s += "# padding line to reach the reported config size\n" }
        return s
    }()

    static func keyValue(_ key: String, _ value: String) -> KeyValue {
        var kv = KeyValue()
        kv.key = key
        var v = AnyValue()
        v.value = .stringValue(value)
        kv.value = v
        return kv
    }

    static func component(_ status: String, start: UInt64) -> ComponentHealth {
        var h = ComponentHealth()
        h.healthy = true
        h.startTimeUnixNano = start
        h.status = status
        h.statusTimeUnixNano = start + 1_000_000_000
        return h
    }

    /// Heartbeat: instance_uid (16 bytes) + sequence_num + capabilities.
    static func heartbeat(seq: UInt64) -> AgentToServer {
        var m = AgentToServer()
        m.instanceUid = uid
        m.sequenceNum = seq
        m.capabilities = agentCaps.rawValue
        return m
    }

    static let heartbeatBytes: [UInt8] = heartbeat(seq: 42).serializedBytes()

    static let remoteConfigHash: [UInt8] = Array("sha256:4f1c0de2b7a9e3f5d8c6b4a2".utf8)

    /// Full status (~2.3 KB): description, capabilities, health with 3 components, a 1.7 KB
    /// effective config and the remote config status.
    static let fullStatus: AgentToServer = {
        var m = heartbeat(seq: 0)
        var d = AgentDescription()
        d.identifyingAttributes = [
            keyValue("service.name", "otelcol-contrib"),
            keyValue("service.instance.id", "01905e3a-7b21-7000-8c4d-123456789abc"),
            keyValue("service.version", "0.115.1"),
        ]
        d.nonIdentifyingAttributes = [
            keyValue("host.name", "ip-10-42-7-19.eu-west-1.compute.internal"),
            keyValue("os.type", "linux"),
            keyValue("host.arch", "amd64"),
        ]
        m.agentDescription = d
        var health = component("StatusOK", start: 1_732_000_000_000_000_000)
        health.componentHealthMap = [
            "pipeline:traces": component("StatusOK", start: 1_732_000_000_100_000_000),
            "receiver:otlp": component("StatusOK", start: 1_732_000_000_200_000_000),
            "exporter:otlp": component("StatusRecoverableError", start: 1_732_000_000_300_000_000),
        ]
        health.componentHealthMap["exporter:otlp"]?.healthy = false
        health.componentHealthMap["exporter:otlp"]?.lastError = "rpc error: code = Unavailable"
        m.health = health
        var file = AgentConfigFile()
        file.body = Array(yaml.utf8)
        file.contentType = "text/yaml"
        var map = AgentConfigMap()
        map.configMap["collector.yaml"] = file
        var effective = EffectiveConfig()
        effective.configMap = map
        m.effectiveConfig = effective
        var rcs = RemoteConfigStatus()
        rcs.lastRemoteConfigHash = remoteConfigHash
        rcs.status = .applied
        m.remoteConfigStatus = rcs
        return m
    }()

    static let fullStatusBytes: [UInt8] = fullStatus.serializedBytes()

    /// The remote config the server pushes (same YAML as the agent reports).
    static let remoteConfig: AgentRemoteConfig = {
        var file = AgentConfigFile()
        file.body = Array(yaml.utf8)
        file.contentType = "text/yaml"
        var map = AgentConfigMap()
        map.configMap["collector.yaml"] = file
        var c = AgentRemoteConfig()
        c.config = map
        c.configHash = Array("sha256:9d8e7f6a5b4c3d2e1f0a9b8c".utf8)
        return c
    }()

    static let sharedRemoteConfig = SharedRemoteConfig(remoteConfig)

    /// The same remote config as swift-protobuf's type, built once (as a server would cache it).
    static let peerRemoteConfig: Opamp_Proto_AgentRemoteConfig = {
        var file = Opamp_Proto_AgentConfigFile()
        file.body = Data(yaml.utf8)
        file.contentType = "text/yaml"
        var c = Opamp_Proto_AgentRemoteConfig()
        c.config.configMap["collector.yaml"] = file
        c.configHash = Data(remoteConfig.configHash)
        return c
    }()

    static let peerUID = Data(uid)
    static let serverCaps = ServerCapabilities.ampora.rawValue
}

/// Deterministic uids (never drawn on the heartbeat path, but `receive` needs a generator).
struct CountingUIDs: InstanceUIDGenerator {
    var n: UInt64 = 0
    mutating func next() -> InstanceUID {
        n &+= 1
        return InstanceUID(high: 0x0190_0000_0000_7000, low: 0x8000_0000_0000_0000 | n)
    }
}
