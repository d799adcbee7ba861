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

    /// The release that removed `service.telemetry.metrics.address`.
    static let metricsAddressRemoved = CollectorVersion(0, 128)

    /// Enumerations the Collector's own decoders check, by setting: accepted values (compared lower-case) and
    /// what the Collector says about others.
    static let compressionValues = ["", "none", "gzip", "zlib", "deflate", "snappy", "x-snappy-framed", "zstd", "lz4"]
    static let verbosityValues = ["basic", "normal", "detailed"]
    static let metricsLevels = ["none", "basic", "normal", "detailed"]
    static let logLevels = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"]
    static let tlsVersions = ["1.0", "1.1", "1.2", "1.3"]

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
                        .requiredSettingMissing, "\(component.kind.rawValue) '\(component.key)': \(rule.why)",
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
                        .requiredSettingMissing,
                        "processor '\(component.key)': memory_limiter needs 'limit_mib' or 'limit_percentage' above zero",
                        at: component.position, path: component.path)
                }
            }
            for (key, advice) in removed[component.kind]?[type] ?? [:] {
                if let pair = component.config.pair(key) {
                    context.report(
                        .removedSetting, "'\(key)' was removed from \(type) \(component.kind.rawValue)s: \(advice)",
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
                        .batchSizeInverted,
                        "send_batch_max_size (\(maxSize)) must be at least send_batch_size (\(size))",
                        at: max.keyPosition, path: "\(component.path).send_batch_max_size")
                }
            }
            checkValues(component, type: type, &context)
        }
        checkTelemetryValues(&context)
    }

    /// Durations, TLS versions and ports anywhere in a component; enumerations of the core components.
    static func checkValues(_ component: Component, type: String, _ context: inout CheckContext) {
        var reports: [(RuleID, String, SourcePosition, String)] = []
        func invalid(_ pair: YPair, _ path: String, _ message: String) {
            reports.append((.invalidValue, message, pair.value.position, path))
        }
        // Prometheus scrape configs follow Prometheus's own duration syntax (`1d`), so they are left alone.
        let durations = !(component.kind == .receiver && type == "prometheus")
        let listens = component.kind == .receiver || component.kind == .extension
        Walker.pairs(component.config, path: component.path) { pair, path in
            guard let text = pair.value.scalar, !pair.value.isNull, !text.includes("$") else { return }
            let parent = String(path.dropLast(pair.key.count + 1))
            if durations, durationKeys.contains(pair.key) {
                if !isDuration(text) {
                    reports.append(
                        (
                            .invalidDuration, "'\(text)' is not a duration (write it like 5s, 250ms or 1m30s)",
                            pair.value.position, path
                        ))
                } else if text.trimmingSpaces.hasPrefix("-") {
                    invalid(pair, path, "'\(pair.key)' must not be negative (\(text)); use a positive duration or 0")
                } else if pair.key == "check_interval", type == "memory_limiter", durationIsZero(text) {
                    invalid(pair, path, "'check_interval' must be greater than zero; the usual value is 1s")
                }
            }
            if pair.key == "min_version" || pair.key == "max_version", Secrets.lastKey(parent) == "tls",
                !tlsVersions.contains(text)
            {
                invalid(pair, path, "TLS \(pair.key) '\(text)' is not supported (use 1.2 or 1.3)")
            }
            if listens, pair.key == "endpoint" || pair.key == "listen_address", let port = portText(text),
                Int(port).map({ $0 > 65535 }) ?? false
            {
                invalid(pair, path, "port '\(port)' in '\(text)' is not a port number (0-65535)")
            }
        }
        let config = component.config
        if component.kind == .exporter, ["otlp_grpc", "otlp_http", "otlp", "otlphttp"].contains(type),
            let pair = config.pair("compression"), let value = pair.value.scalar, !value.includes("$"),
            !compressionValues.contains(value)
        {
            invalid(
                pair, "\(component.path).compression",
                "unsupported compression type '\(value)' (use \(compressionValues.dropFirst().joined(separator: ", ")))"
            )
        }
        if component.kind == .exporter, type == "debug", let pair = config.pair("verbosity"),
            let value = pair.value.scalar, !value.includes("$"), !verbosityValues.contains(value.lowercased())
        {
            invalid(
                pair, "\(component.path).verbosity",
                "verbosity level '\(value)' is not supported (use \(verbosityValues.joined(separator: ", ")))")
        }
        if component.kind == .processor, type == "memory_limiter" {
            for key in ["limit_percentage", "spike_limit_percentage"] {
                guard let pair = config.pair(key), let value = pair.value.scalar.flatMap({ Int($0) }),
                    value < 0 || value > 100
                else { continue }
                invalid(pair, "\(component.path).\(key)", "'\(key)' must be between 0 and 100, not \(value)")
            }
            if let spike = config.pair("spike_limit_mib"), let spikeValue = spike.value.scalar.flatMap({ Int($0) }),
                let limit = config["limit_mib"]?.scalar.flatMap({ Int($0) }), limit > 0, spikeValue >= limit
            {
                invalid(
                    spike, "\(component.path).spike_limit_mib",
                    "'spike_limit_mib' (\(spikeValue)) must be smaller than 'limit_mib' (\(limit))")
            }
        }
        for (rule, message, position, path) in reports { context.report(rule, message, at: position, path: path) }
    }

    /// `service.telemetry` levels.
    static func checkTelemetryValues(_ context: inout CheckContext) {
        let telemetry = context.config.root["service"]?["telemetry"]
        let checks: [(section: String, values: [String], what: String)] = [
            ("logs", logLevels, "log level"), ("metrics", metricsLevels, "metrics level"),
        ]
        for (section, values, what) in checks {
            guard let pair = telemetry?[section]?.pair("level"), let value = pair.value.scalar,
                !value.includes("$"), !values.contains(value.lowercased())
            else { continue }
            context.report(
                .invalidValue, "unknown \(what) '\(value)' (use \(values.joined(separator: ", ")))",
                at: pair.value.position, path: "service.telemetry.\(section).level")
        }
    }

    /// The port part of `host:port` or a URL, when there is one.
    static func portText(_ text: String) -> String? {
        var rest = Substring(text.trimmingSpaces)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { rest = rest[rest.index(after: close)...] }
        guard let colon = rest.lastIndex(of: ":"), rest.firstIndex(of: ":") == colon else { return nil }
        let port = rest[rest.index(after: colon)...]
        return port.isEmpty ? nil : String(port)
    }

    static func durationIsZero(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { !("1"..."9").contains($0) }
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
