/// Transport security, secrets and exposed listeners.
enum SecurityChecks {
    /// Listening components, by canonical type, with the ports they open when the endpoint is left out.
    static let listenerDefaults: [ComponentKind: [String: [String: String]]] = [
        .receiver: [
            "otlp": ["grpc": "localhost:4317", "http": "localhost:4318"],
            "jaeger": ["grpc": "localhost:14250", "thrift_http": "localhost:14268"],
            "zipkin": ["": "localhost:9411"], "fluent_forward": [:], "statsd": [:], "carbon": [:], "collectd": [:],
            "influxdb": [:], "skywalking": [:], "signalfx": [:], "splunk_hec": [:], "syslog": [:], "tcp_log": [:],
            "udp_log": [:], "webhook_event": [:], "loki": [:], "datadog": [:], "awsxray": [:], "aws_xray": [:],
            "prometheus_remote_write": [:], "sapm": [:], "opencensus": [:], "aws_firehose": [:],
        ],
        .extension: [
            "health_check": ["": "localhost:13133"], "pprof": ["": "localhost:1777"], "zpages": ["": "localhost:55679"],
            "healthcheckv2": [:], "health_check_v2": [:], "jaeger_remote_sampling": [:],
        ],
        .exporter: ["prometheus": [:]],
    ]
    static let endpointKeys: Set<String> = ["endpoint", "listen_address"]
    static let skippedSubtrees: Set<String> = ["client", "tls", "auth", "config", "scrape_configs", "remote"]

    struct Listener {
        var component: Component
        var endpoint: Endpoint
        var text: String
        var position: SourcePosition
        var path: String
        /// The server settings map that holds the endpoint (where `auth` would be).
        var server: YNode?
    }

    static func run(_ context: inout CheckContext) {
        checkTLSAndSecrets(&context)
        checkListeners(&context)
        checkExporterTransport(&context)
    }

    static func resolved(_ text: String, _ context: CheckContext) -> String? {
        let result = context.options.environment.resolve(text)
        return result.unresolved.isEmpty ? result.value : nil
    }

    static func listeners(_ context: CheckContext) -> [Listener] {
        let usedReceivers = Set(context.config.pipelines.flatMap(\.receivers).compactMap(\.id))
        let usedExporters = Set(context.config.pipelines.flatMap(\.exporters).compactMap(\.id))
        let enabledExtensions = Set(context.config.serviceExtensions.compactMap(\.id))
        var result: [Listener] = []
        for component in context.config.allComponents {
            let type = SettingsChecks.canonicalType(component.kind, component.id.type, context.registry)
            guard let defaults = listenerDefaults[component.kind]?[type] else { continue }
            switch component.kind {
            case .receiver: guard usedReceivers.contains(component.id) else { continue }
            case .exporter: guard usedExporters.contains(component.id) else { continue }
            case .extension: guard enabledExtensions.contains(component.id) else { continue }
            default: continue
            }
            var found: [String] = []
            func visit(_ node: YNode, path: String, protocolName: String) {
                guard let pairs = node.pairs else { return }
                for pair in pairs {
                    let childPath = "\(path).\(pair.key)"
                    if endpointKeys.contains(pair.key), let text = pair.value.scalar, !pair.value.isNull {
                        found.append(protocolName)
                        if let value = resolved(text, context), let endpoint = Endpoint(value) {
                            result.append(
                                Listener(
                                    component: component, endpoint: endpoint, text: value,
                                    position: pair.value.position,
                                    path: childPath, server: node))
                        }
                    } else if !skippedSubtrees.contains(pair.key) {
                        visit(
                            pair.value, path: childPath,
                            protocolName: path.hasSuffix(".protocols") ? pair.key : protocolName)
                    }
                }
            }
            visit(component.config, path: component.path, protocolName: "")
            for (protocolName, value) in defaults.sorted(by: { $0.key < $1.key }) where !found.contains(protocolName) {
                let present = protocolName.isEmpty || component.config["protocols"]?.pair(protocolName) != nil
                if present, let endpoint = Endpoint(value) {
                    let node = protocolName.isEmpty ? component.config : component.config["protocols"]?[protocolName]
                    result.append(
                        Listener(
                            component: component, endpoint: endpoint, text: value + " (default)",
                            position: component.position, path: component.path, server: node))
                }
            }
        }
        return result
    }

    static func checkListeners(_ context: inout CheckContext) {
        let all = listeners(context)
        for (index, listener) in all.enumerated() {
            let type = SettingsChecks.canonicalType(
                listener.component.kind, listener.component.id.type, context.registry)
            if listener.endpoint.isAllInterfaces {
                context.report(
                    .listenAllInterfaces,
                    "\(listener.component.kind.rawValue) '\(listener.component.id)' listens on all interfaces (\(listener.text))",
                    at: listener.position, path: listener.path)
            }
            if type == "pprof" || type == "zpages", !listener.endpoint.isLoopback {
                context.report(
                    .debugExtensionExposed,
                    "\(type) '\(listener.component.id)' is reachable beyond localhost (\(listener.text))",
                    at: listener.position, path: listener.path)
            }
            if listener.component.kind == .receiver, !listener.endpoint.isLoopback, listener.server?["auth"] == nil {
                context.report(
                    .receiverNoAuth,
                    "receiver '\(listener.component.id)' accepts data on \(listener.text) without auth",
                    at: listener.position, path: listener.path)
            }
            for earlier in all[..<index] where earlier.endpoint.overlaps(listener.endpoint) {
                if earlier.component.id == listener.component.id, earlier.component.kind == listener.component.kind,
                    earlier.path == listener.path
                {
                    continue
                }
                context.report(
                    .portConflict,
                    "\(listener.text) collides with \(earlier.component.kind.rawValue) '\(earlier.component.id)' on \(earlier.text)",
                    at: listener.position, path: listener.path)
                break
            }
        }
    }

    /// Positions of `insecure_skip_verify` whose nearest `endpoint` (in the same map or an enclosing one) is
    /// loopback or a service name: the hosts `tls-insecure-remote` accepts even plaintext for.
    static func localSkipVerify(
        _ node: YNode, endpoint: Endpoint?, _ context: CheckContext, into result: inout Set<SourcePosition>
    ) {
        switch node.kind {
        case .mapping(let pairs):
            var endpoint = endpoint
            if let pair = node.pair("endpoint") {
                endpoint = pair.value.scalar.flatMap { resolved($0, context) }.flatMap { Endpoint($0) }
            }
            let local = endpoint.map { $0.isLoopback || $0.isClusterLocal } ?? false
            for pair in pairs {
                if pair.key == "insecure_skip_verify", local { result.insert(pair.value.position) }
                localSkipVerify(pair.value, endpoint: endpoint, context, into: &result)
            }
        case .sequence(let items):
            for item in items { localSkipVerify(item, endpoint: endpoint, context, into: &result) }
        case .scalar:
            break
        }
    }

    static func checkTLSAndSecrets(_ context: inout CheckContext) {
        var reports: [(RuleID, String, SourcePosition, String)] = []
        var localSkips: Set<SourcePosition> = []
        localSkipVerify(context.config.root, endpoint: nil, context, into: &localSkips)
        Walker.pairs(context.config.root, path: "") { pair, path in
            let value = pair.value.scalar
            let parent = String(path.dropLast(pair.key.count + 1))
            switch pair.key {
            case "insecure_skip_verify" where value == "true" && !localSkips.contains(pair.value.position):
                reports.append((.tlsSkipVerify, "certificate verification is turned off", pair.value.position, path))
            case "min_version", "max_version":
                if let value, ["1.0", "1.1"].contains(value) {
                    reports.append(
                        (.tlsOldVersion, "TLS \(value) is deprecated; use 1.2 or later", pair.value.position, path))
                }
            case "allowed_origins" where parent.hasSuffix("cors"):
                if pair.value.items?.contains(where: { $0.scalar == "*" }) == true || value == "*" {
                    reports.append((.corsWildcard, "CORS allows every origin", pair.value.position, path))
                }
            default:
                break
            }
            guard let value, !pair.value.isNull else { return }
            if value.includes("-----BEGIN"), value.includes("PRIVATE KEY") {
                reports.append(
                    (
                        .inlinePrivateKey, "a PEM private key is written inline in '\(pair.key)'",
                        pair.value.position, path
                    ))
                return
            }
            if Secrets.isSecretKey(pair.key, parentKey: Secrets.lastKey(parent)), Secrets.isLiteral(value) {
                reports.append(
                    (
                        .plaintextSecret, "'\(pair.key)' holds a literal secret; use ${env:…} or ${file:…}",
                        pair.value.position, path
                    ))
            }
        }
        for (rule, message, position, path) in reports { context.report(rule, message, at: position, path: path) }
    }

    static func checkExporterTransport(_ context: inout CheckContext) {
        for exporter in context.config.components[.exporter] ?? [] {
            guard let pair = exporter.config.pair("endpoint"), let text = pair.value.scalar,
                let value = resolved(text, context), let endpoint = Endpoint(value), !endpoint.isLoopback,
                !endpoint.host.isEmpty, !endpoint.isAllInterfaces, !endpoint.isClusterLocal
            else { continue }
            let insecure = exporter.config["tls"]?["insecure"]?.scalar == "true"
            if insecure || endpoint.scheme == "http" {
                let how = insecure ? "tls.insecure is true" : "the endpoint is plain http"
                context.report(
                    .tlsInsecureRemote, "exporter '\(exporter.id)' sends to \(endpoint.host) unencrypted (\(how))",
                    at: pair.value.position, path: "\(exporter.path).endpoint")
            }
        }
    }
}
