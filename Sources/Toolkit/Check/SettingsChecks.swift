/// Per-component settings the Collector validates itself: required fields, durations, removed keys.
enum SettingsChecks {
    /// Required settings by (kind, canonical type): any one of the listed keys satisfies the requirement.
    static let required: [ComponentKind: [String: (keys: [String], why: String)]] = [
        .exporter: [
            "otlp_grpc": (["endpoint"], "the OTLP gRPC exporter needs an 'endpoint'"),
            "otlp_http": (
                ["endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint", "profiles_endpoint"],
                "the OTLP/HTTP exporter needs 'endpoint' or a per-signal endpoint"
            ),
            "prometheus": (["endpoint"], "the prometheus exporter needs an 'endpoint' to listen on"),
            "file": (["path"], "the file exporter needs a 'path'"),
            "load_balancing": (["resolver"], "the load_balancing exporter needs a 'resolver'"),
        ],
        .receiver: [
            "file_log": (["include"], "the file log receiver needs 'include' patterns"),
            "otlp": (["protocols"], "the OTLP receiver needs at least one protocol under 'protocols'"),
            "jaeger": (["protocols"], "the Jaeger receiver needs at least one protocol under 'protocols'"),
            "prometheus": (["config", "target_allocator"], "the prometheus receiver needs 'config' scrape_configs"),
        ],
        .processor: [
            "memory_limiter": (["check_interval"], "memory_limiter needs 'check_interval' above zero"),
            "attributes": (["actions"], "the attributes processor needs 'actions'"),
            "resource": (["attributes"], "the resource processor needs 'attributes'"),
        ],
    ]

    /// Settings removed from components, with what replaced them.
    static let removed: [ComponentKind: [String: [String: String]]] = [
        .receiver: ["jaeger": ["remote_sampling": "use the jaeger_remote_sampling extension"]],
        .processor: ["memory_limiter": ["ballast_size_mib": "the memory ballast was removed; use GOMEMLIMIT"]],
        .exporter: ["debug": ["loglevel": "use 'verbosity'"]],
    ]

    static let durationKeys: Set<String> = [
        "timeout", "check_interval", "collection_interval", "initial_delay", "decision_wait", "initial_interval",
        "max_interval", "max_elapsed_time", "poll_interval", "read_timeout", "write_timeout", "idle_timeout",
        "read_header_timeout", "flush_interval", "reload_interval", "expiration", "metrics_flush_interval",
    ]

    static func canonicalType(_ kind: ComponentKind, _ type: String, _ registry: ComponentRegistry) -> String {
        if let entry = registry.entry(kind, type), entry.status == .deprecatedAlias, let target = entry.aliasOf {
            return target
        }
        return type
    }

    static func run(_ context: inout CheckContext) {
        for component in context.config.allComponents {
            let type = canonicalType(component.kind, component.id.type, context.registry)
            if let rule = required[component.kind]?[type] {
                let present = rule.keys.contains { key in
                    guard let value = component.config[key] else { return false }
                    return !value.isNull && value.scalar != ""
                }
                if !present {
                    context.report(
                        "required-setting-missing", "\(component.kind.rawValue) '\(component.key)': \(rule.why)",
                        at: component.position, path: component.path)
                }
            }
            if type == "memory_limiter", component.config.pairs != nil {
                let limits = ["limit_mib", "limit_percentage"].contains { key in
                    guard let text = component.config[key]?.scalar, let number = Double(text) else {
                        return component.config[key]?.scalar?.includes("${") == true
                    }
                    return number > 0
                }
                if !limits {
                    context.report(
                        "required-setting-missing",
                        "processor '\(component.key)': memory_limiter needs 'limit_mib' or 'limit_percentage' above zero",
                        at: component.position, path: component.path)
                }
            }
            for (key, advice) in removed[component.kind]?[type] ?? [:] {
                if let pair = component.config.pair(key) {
                    context.report(
                        "removed-setting", "'\(key)' was removed from \(type) \(component.kind.rawValue)s: \(advice)",
                        at: pair.keyPosition, path: "\(component.path).\(key)")
                }
            }
            if type == "batch" {
                let size = component.config["send_batch_size"]?.scalar.flatMap { Int($0) } ?? 8192
                if let max = component.config.pair("send_batch_max_size"),
                    let maxSize = max.value.scalar.flatMap({ Int($0) }),
                    maxSize > 0, maxSize < size
                {
                    context.report(
                        "batch-size-inverted",
                        "send_batch_max_size (\(maxSize)) must be at least send_batch_size (\(size))",
                        at: max.keyPosition, path: "\(component.path).send_batch_max_size")
                }
            }
            // Prometheus scrape configs follow Prometheus's own duration syntax (`1d`), so they are left alone.
            guard !(component.kind == .receiver && type == "prometheus") else { continue }
            Walker.pairs(component.config, path: component.path) { pair, path in
                guard durationKeys.contains(pair.key), let text = pair.value.scalar, !pair.value.isNull,
                    !text.includes("$"), !isDuration(text)
                else { return }
                context.report(
                    "invalid-duration", "'\(text)' is not a duration (write it like 5s, 250ms or 1m30s)",
                    at: pair.value.position, path: path)
            }
        }
    }

    /// Go's `time.ParseDuration` grammar, plus plain integers (decoded as nanoseconds).
    static func isDuration(_ text: String) -> Bool {
        var s = Substring(text.trimmingSpaces)
        if s.first == "-" || s.first == "+" { s = s.dropFirst() }
        if s == "0" || (!s.isEmpty && s.allSatisfy(\.isASCIIDigit)) { return true }
        guard !s.isEmpty else { return false }
        let units = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
        while !s.isEmpty {
            let number = s.prefix { $0.isASCIIDigit || $0 == "." }
            guard !number.isEmpty, number != "." else { return false }
            s = s.dropFirst(number.count)
            guard let unit = units.sorted(by: { $0.count > $1.count }).first(where: { s.hasPrefix($0) }) else {
                return false
            }
            s = s.dropFirst(unit.count)
        }
        return true
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
