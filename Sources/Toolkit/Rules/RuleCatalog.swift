/// Every rule the tool knows, in a fixed order (`ampora-tool rules` prints them this way).
public enum RuleCatalog {
    /// The rules, in the order `RuleID` declares them.
    public static let all: [RuleInfo] = RuleID.allCases.map(\.info)
}

extension RuleID {
    /// The rule's fixed facts; a switch rather than a table so that a case without them does not compile.
    public var info: RuleInfo {
        switch self {
        case .yamlSyntax:
            RuleInfo(
                self, .error, .structure, "The file is not valid YAML.",
                "The Collector refuses to start when any config source fails to parse, so nothing else in the file matters until this is fixed. The position is where the YAML parser gave up, which is usually at or just after the mistake (a tab used for indentation, an unquoted colon, an unclosed quote)."
            )
        case .configEmpty:
            RuleInfo(
                self, .error, .structure, "The config is empty or not a map.",
                "A Collector config is a map of sections. An empty file, a list or a lone scalar gives the Collector nothing to run and it exits at start-up, which in a rollout means every agent that received the config stops sending telemetry."
            )
        case .unknownTopLevelKey:
            RuleInfo(
                self, .error, .structure, "A top-level key the Collector does not know.",
                "The Collector decodes its config strictly: an unknown top-level key (often a typo such as `exporter:` or `pipelines:` at the root) is a start-up error rather than something it ignores."
            )
        case .sectionShape:
            RuleInfo(
                self, .error, .structure, "A section or pipeline field has the wrong YAML shape.",
                "Component sections must be maps from component ID to settings, pipeline fields must be lists of IDs, and component settings must be maps. The Collector's strict decoder rejects anything else, and a list where a map belongs is one of the most common indentation mistakes."
            )
        case .noPipelines:
            RuleInfo(
                self, .error, .structure, "`service.pipelines` is missing or empty.",
                "The Collector requires at least one pipeline: without one it has nothing to run and refuses the config with 'service must have at least one pipeline'."
            )
        case .pipelineNoReceivers:
            RuleInfo(
                self, .error, .structure, "A pipeline has no receivers.",
                "Every pipeline needs at least one receiver (or connector acting as one) to feed it; the Collector rejects a pipeline with an empty or missing `receivers` list."
            )
        case .pipelineNoExporters:
            RuleInfo(
                self, .error, .structure, "A pipeline has no exporters.",
                "Every pipeline needs at least one exporter (or connector acting as one); data with nowhere to go is a config error, not a silent drop, in the Collector's validation."
            )
        case .invalidComponentID:
            RuleInfo(
                self, .error, .structure, "A component ID does not follow `type[/name]`.",
                "Component IDs are parsed as a type (a letter, then letters, digits or underscores, at most 63 characters) and an optional name after one slash. Spaces, an empty name after the slash or a type starting with a digit make the Collector reject the whole config."
            )
        case .invalidPipelineID:
            RuleInfo(
                self, .error, .structure, "A pipeline ID is not `signal[/name]`.",
                "Pipeline IDs start with the signal they carry (traces, metrics, logs, or profiles). Anything else is rejected because the Collector cannot tell which data type the pipeline handles."
            )
        case .duplicateProcessor:
            RuleInfo(
                self, .error, .structure, "A processor is listed twice in one pipeline.",
                "The Collector builds one instance of each processor per pipeline, so listing it twice is rejected ('references processor multiple times'). To run similar logic twice, declare two named instances such as `attributes/a` and `attributes/b`."
            )
        case .duplicatePipelineEntry:
            RuleInfo(
                self, .warning, .structure, "A receiver or exporter is listed twice in one pipeline.",
                refusal: false,
                "Listing a receiver or exporter twice in the same pipeline adds nothing (the Collector shares one instance per pipeline signal) and usually means a copy-paste mistake where a different component was intended. The Collector accepts it (only processors may not repeat), so `validate` does not report it."
            )
        case .invalidServiceSection:
            RuleInfo(
                self, .error, .structure,
                "`service` or `service.telemetry` holds an unknown key or wrong shape.",
                "The service section is decoded strictly like the rest of the config: an unknown key under `service` or `service.telemetry` (for example `telemetry.log` instead of `logs`) stops the Collector at start-up."
            )
        case .requiredSettingMissing:
            RuleInfo(
                self, .error, .structure,
                "A component lacks a setting its config validation requires.",
                "Some components refuse an empty config: the OTLP exporters need an endpoint, the file log receiver needs `include`, memory_limiter needs a limit and `check_interval`. These fail in the component's own Validate step at start-up, after a rollout has already delivered the config."
            )
        case .invalidDuration:
            RuleInfo(
                self, .error, .structure, "A duration setting is not a Go duration.",
                "Settings such as `timeout`, `interval` and `check_interval` are parsed with Go's `time.ParseDuration`: a number needs a unit (`5s`, `250ms`, `1m30s`). A bare word or a unit the parser does not know makes decoding fail."
            )
        case .removedSetting:
            RuleInfo(
                self, .error, .structure, "A setting that was removed from its component.",
                "Settings that were removed (for example `service.telemetry.metrics.address` from v0.128, the Jaeger receiver's `remote_sampling` or memory_limiter's `ballast_size_mib`) are unknown keys to a current Collector, and its strict decoder refuses the config ('has invalid keys'). Which settings count as removed follows `--collector-version`."
            )
        case .invalidValue:
            RuleInfo(
                self, .error, .structure, "A setting holds a value its component refuses.",
                "Where the type of a setting is known, the Collector's Validate step checks its value at start-up: timeouts and intervals must not be negative ('timeout' must be non-negative), ports must be 0 to 65535, enumerations (debug `verbosity`, telemetry log `level`, `compression`, TLS versions) take only their listed values and percentages stay within 0-100. The message names the setting, the reason and the accepted values."
            )
        case .batchSizeInverted:
            RuleInfo(
                self, .error, .structure, "`send_batch_max_size` is smaller than `send_batch_size`.",
                "The batch processor validates that the maximum batch size is at least the batch size (when the maximum is set); otherwise it refuses to start."
            )
        case .undeclaredComponent:
            RuleInfo(
                self, .error, .references, "A pipeline references a component that is not declared.",
                "Each ID in a pipeline must be declared in the matching top-level section (or in `connectors`). An undeclared ID is a start-up error; it is usually a typo or a component that was renamed in one place only."
            )
        case .undeclaredExtension:
            RuleInfo(
                self, .error, .references,
                "`service.extensions` names an extension that is not declared.",
                "Enabled extensions must be declared under `extensions:`; the Collector refuses to start otherwise."
            )
        case .unresolvedExtension:
            RuleInfo(
                self, .error, .references,
                "A component setting names an extension that is not declared or not enabled.",
                "`auth.authenticator`, `storage`, encoding extensions and `watch_observers` name an extension by ID. The Collector looks the extension up among the running ones when the component starts and fails ('failed to resolve authenticator', 'no storage client extension found') when it is not declared under `extensions:` or not listed in `service.extensions`."
            )
        case .connectorIDClash:
            RuleInfo(
                self, .error, .references, "A connector shares its ID with a receiver or exporter.",
                "In a pipeline a connector's ID appears in `receivers` or `exporters`, so an ID declared both as a connector and as a receiver or exporter is ambiguous; the Collector rejects it."
            )
        case .connectorOneSided:
            RuleInfo(
                self, .error, .references,
                "A connector is used only as an exporter or only as a receiver.",
                "A connector joins the end of one pipeline to the start of another. Used on one side only it connects nothing, and the Collector refuses it ('used as exporter in … but not used in any supported receiver pipeline')."
            )
        case .connectorSignalUnsupported:
            RuleInfo(
                self, .error, .references,
                "A connector bridges a signal pair it does not support.",
                "Each connector type supports specific signal pairs (span_metrics: traces to metrics). Wiring it between pipelines of another pair fails when the Collector builds the graph."
            )
        case .connectorCycle:
            RuleInfo(
                self, .error, .references, "Connectors form a cycle between pipelines.",
                "If pipeline A exports through a connector into pipeline B and B (directly or further on) feeds A again, data would loop for ever; the Collector detects the cycle and refuses to build the graph."
            )
        case .componentSignalUnsupported:
            RuleInfo(
                self, .error, .references,
                "A component is used in a pipeline of a signal it does not support.",
                "Receivers, processors and exporters implement a subset of signals (host_metrics only produces metrics). Placing one in a pipeline of another signal makes the Collector fail with 'telemetry type is not supported'."
            )
        case .invalidReference:
            RuleInfo(
                self, .error, .references, "A `${…}` config reference is malformed.",
                "The confmap resolver fails on `${` without a closing brace, an empty reference or an invalid scheme; it is better to catch this before rollout than in the Collector's start-up log. Write `$$` for a literal dollar sign."
            )
        case .unknownComponentType:
            RuleInfo(
                self, .error, .registry, "A component type the registry does not know.", refusal: true,
                "A type missing from the distribution makes the Collector fail with 'unknown type: \"x\" for id: \"x\"'. Which types exist follows `--distribution` and `--collector-version`; types of a vendor distribution (Splunk, BindPlane, SigNoz, Jaeger) are added with `--registry-add FILE`."
            )
        case .removedComponentType:
            RuleInfo(
                self, .error, .registry, "A component type that no longer exists.", refusal: true,
                "Types such as the `logging` exporter, the `jaeger` exporter or the spanmetrics processor were removed from the Collector; configs that still use them fail after an upgrade. The message names the replacement."
            )
        case .deprecatedAlias:
            RuleInfo(
                self, .info, .registry, "An old type name kept as a deprecated alias.", fixable: true,
                "The 2026 snake_case renames (`otlp` exporter to `otlp_grpc`, `filelog` to `file_log`, …) keep the old names as aliases that log a deprecation warning; aliases are removed after a deprecation period. `ampora-tool fix` renames them and their references. A warning only when `--collector-version` names the release the config is for: the new names do not exist in releases before the rename, so without a stated release renaming could break a Collector that is still older (most configs in the labelled corpus predate the rename), and a reviewer would not ask for it."
            )
        case .deprecatedComponent:
            RuleInfo(
                self, .warning, .registry, "A component deprecated for the signal it is used with.",
                "Deprecated components (for example the signalfx receiver) still work but are scheduled for removal; the message carries the registry's advice on what to use instead."
            )
        case .unstableComponent:
            RuleInfo(
                self, .info, .registry, "A component at development or alpha stability for its signal.",
                "Development and alpha components may change configuration or behaviour between releases without notice; production pipelines that depend on them need closer upgrade testing."
            )
        case .unmaintainedComponent:
            RuleInfo(
                self, .warning, .registry, "A component marked unmaintained.",
                "Unmaintained components have no code owner, receive no fixes and are removed after a grace period; plan a replacement."
            )
        case .memoryLimiterMissing:
            RuleInfo(
                self, .info, .hygiene, "A pipeline has no memory_limiter processor.",
                "The Collector's guidance is to run memory_limiter in every pipeline so that a traffic spike leads to refused data (which clients retry) instead of an out-of-memory kill that loses everything in flight. Info, not a warning: whether a config needs it depends on the deployment (a container memory limit with `GOMEMLIMIT`, an agent with a bounded source, a demo), which the config does not show; in the labelled corpus most configs without it were fine as they are. A warning when other pipelines of the same config run memory_limiter and this one, exporting beyond connectors, does not: that is an omission a reviewer asks about. Raise it in `.ampora-lint.yaml` for gateway configs."
            )
        case .memoryLimiterNotFirst:
            RuleInfo(
                self, .warning, .hygiene, "memory_limiter is not the first processor.",
                "memory_limiter can only push back on receivers when it comes first: processors before it already allocate for data that will then be refused. The recommended order starts with memory_limiter."
            )
        case .batchMissing:
            RuleInfo(
                self, .info, .hygiene, "A pipeline has no batch processor and its exporters do not batch.",
                "Sending one request per incoming batch multiplies connections and per-request overhead. Either the batch processor or exporter-side batching (`sending_queue.batch`) should group data before export. Not reported for pipelines whose exporters are all pull-based (prometheus), debug or nop, nor for profiles pipelines (the batch processor has no profiles support)."
            )
        case .batchOrder:
            RuleInfo(
                self, .warning, .hygiene, "batch runs before filtering, sampling or enrichment processors.",
                "The Collector's processor guidance places batch after memory_limiter and after any processor that drops or enriches data (filter, sampling, k8s_attributes, resource_detection, …): batching first wastes work on data that is dropped and breaks context-based enrichment, which needs the original request context."
            )
        case .exporterRetryDisabled:
            RuleInfo(
                self, .info, .hygiene, "An exporter has `retry_on_failure` disabled.",
                "Without retries a transient backend error (a restart, a 503) drops the batch at once. Retry is on by default, so `enabled: false` is written on purpose (backends that deduplicate poorly, tests of failure paths); info, as a reminder rather than a request to change."
            )
        case .exporterQueueDisabled:
            RuleInfo(
                self, .info, .hygiene, "An exporter has `sending_queue` disabled.",
                "Without a sending queue the pipeline blocks on every export and a slow backend back-pressures all receivers; data is lost as soon as the backend is unreachable. The queue is on by default, so `enabled: false` is written on purpose (synchronous export for back-pressure, tests); info, as a reminder rather than a request to change."
            )
        case .queueSizing:
            RuleInfo(
                self, .warning, .hygiene, "An exporter's queue size is out of proportion.",
                "A queue smaller than its number of consumers leaves consumers idle and fills at the first hiccup; a queue above a million batches can hold more than the process memory and turns a backend outage into an out-of-memory kill."
            )
        case .debugOnlyExporter:
            RuleInfo(
                self, .info, .hygiene, "A pipeline's only exporters are debug or nop.",
                "A pipeline that only prints to the Collector's log (or discards data) sends nothing anywhere; in production this is almost always a leftover from testing. Info, not a warning: examples, chart defaults without a backend and tests do it on purpose (every such pipeline in the labelled corpus), and the config alone cannot tell them from a production leftover. Raise it in `.ampora-lint.yaml` for production config repositories."
            )
        case .debugVerbosityDetailed:
            RuleInfo(
                self, .info, .hygiene, "The debug exporter prints every item in detail.",
                "`verbosity: detailed` writes each span, metric point and log record to the Collector's own log, which costs CPU and log volume proportional to traffic."
            )
        case .unusedComponent:
            RuleInfo(
                self, .info, .hygiene,
                "A declared receiver, processor, exporter or connector is used by no pipeline.",
                "The Collector ignores components no pipeline uses. They confuse readers and still appear in rendered configs and reviews. Info, not a warning: the harmful case, a pipeline naming a different ID than the one declared, is already an error (`undeclared-component`), and most unused components in the labelled corpus are deliberate (a debug exporter kept for troubleshooting, reference configs that declare every option, chart templates)."
            )
        case .extensionNotEnabled:
            RuleInfo(
                self, .info, .hygiene, "A declared extension is not listed in `service.extensions`.",
                "Extensions only start when listed in `service.extensions`; a declared but unlisted health_check or pprof silently does nothing, which breaks probes that expect it. Info, like `unused-component`: the config does not show whether anything expects the extension. An extension that a component names (`storage`, `auth.authenticator`, encodings, observers) is not reported here, as `unresolved-extension` already refuses it."
            )
        case .envUnsetNoDefault:
            RuleInfo(
                self, .warning, .hygiene, "An env reference has no value and no default.",
                "The Collector substitutes an empty string for an unset variable, which tends to surface later as a confusing error (an empty endpoint) or silently wrong behaviour. Deployments usually set these variables, so the rule only runs when the environment is described: with `--env`/`--env-file` (a reference the files do not set is then reported) or `--strict-env`. Give a default with `${env:NAME:-value}` where one makes sense."
            )
        case .bareEnvVar:
            RuleInfo(
                self, .warning, .hygiene, "A `$NAME` reference the Collector leaves literal.", fixable: true,
                "Current Collectors no longer expand bare `$NAME`; the value is used literally, dollar sign and all. Write `${env:NAME}` (ampora-tool fix does this), or `$$` for a literal dollar sign."
            )
        case .ottlMisread:
            RuleInfo(
                self, .error, .hygiene, "An OTTL statement was read by YAML as a map.", refusal: true,
                "An unquoted OTTL statement containing `: ` becomes a YAML map, not a string, and the Collector refuses the config when it decodes the statement list ('expected type string'). Quote the whole statement."
            )
        case .ottlUnquoted:
            RuleInfo(
                self, .error, .hygiene, "YAML cut an unquoted OTTL statement short at ` #`.", fixable: true,
                refusal: true,
                "In plain YAML ` #` starts a comment, even inside what OTTL sees as a string literal: `- set(attributes[\"x\"], \"a #b\")` reaches the processor as `set(attributes[\"x\"], \"a`, which does not parse, and the Collector refuses the config. Only statements YAML actually changed are reported; statements it reads as written are left alone. ampora-tool fix quotes single-line statements."
            )
        case .templateMarker:
            RuleInfo(
                self, .error, .hygiene, "A value still contains `{{ }}` template markers.",
                "Leftover Helm or Go template markers mean the config was not rendered before it was shipped; the Collector would use the literal text (an endpoint of `{{ .Values.host }}`)."
            )
        case .configTooLarge:
            RuleInfo(
                self, .warning, .hygiene, "The config is larger than the OpAMP message limit.",
                "Configs are pushed to agents inside one OpAMP message; a config above the server's message limit (64 MiB by default, change with `max-config-bytes`) cannot be delivered remotely."
            )
        case .profilesSignal:
            RuleInfo(
                self, .error, .hygiene,
                "A profiles pipeline without the `service.profilesSupport` feature gate.",
                refusal: true,
                "The profiles signal is alpha: the Collector refuses a profiles pipeline unless it runs with `--feature-gates=service.profilesSupport` ('profiling signal support is at alpha level, gated under the \"service.profilesSupport\" feature gate'). Pass the same `--feature-gates` to ampora-tool when the Collector gets it."
            )
        case .telemetryMetricsAddress:
            RuleInfo(
                self, .warning, .hygiene, "`service.telemetry.metrics.address` is deprecated.",
                "The Collector's own metrics are configured with `readers` (a pull reader with a prometheus exporter) since the move to the OpenTelemetry SDK. `address` was deprecated and then removed in v0.128.0: for an earlier `--collector-version` this rule warns, from v0.128.0 on `removed-setting` reports it as a refusal."
            )
        case .tailSamplingNoPolicies:
            RuleInfo(
                self, .warning, .hygiene, "tail_sampling has no policies.",
                "Without policies the tail sampling processor keeps nothing useful and only buffers traces in memory for `decision_wait`."
            )
        case .healthCheckMissing:
            RuleInfo(
                self, .info, .hygiene, "No health_check extension is enabled.",
                "Orchestrators need a liveness and readiness endpoint; without health_check a stuck Collector is never restarted."
            )
        case .tlsInsecureRemote:
            RuleInfo(
                self, .warning, .security,
                "TLS is disabled for an exporter that talks to a non-local host.",
                "`tls.insecure: true` (or an `http://` endpoint) sends telemetry, which often contains personal data and credentials in attributes, in clear text across the network. It is only reasonable for loopback or sidecar endpoints; Docker Compose and Kubernetes service names (no dot, or ending in `.svc`/`.svc.cluster.local`) are not reported."
            )
        case .tlsSkipVerify:
            RuleInfo(
                self, .warning, .security, "`insecure_skip_verify` turns off certificate checks.",
                "Skipping verification keeps encryption but accepts any certificate, so anyone on the path can impersonate the backend and read everything. Not reported when the endpoint next to it is loopback or a Docker Compose or Kubernetes service name, the hosts where `tls-insecure-remote` accepts even plaintext (self-signed certificates on a compose network are the common case); the kubelet's node address is reported (give the cluster CA as `ca_file`)."
            )
        case .tlsOldVersion:
            RuleInfo(
                self, .warning, .security, "TLS 1.0 or 1.1 is allowed.",
                "TLS 1.0 and 1.1 are deprecated (RFC 8996) and have known weaknesses; `min_version` should be 1.2 or higher."
            )
        case .inlinePrivateKey:
            RuleInfo(
                self, .error, .security, "A private key is written inline in the config.",
                "A PEM private key in the config travels to every agent, every review and every log of rendered configs. Reference a file (`key_file`) or an environment variable instead."
            )
        case .plaintextSecret:
            RuleInfo(
                self, .warning, .security, "A secret-looking setting holds a literal value.",
                "Passwords, tokens and API keys written in the config leak through version control, OpAMP status reports and support bundles. Use `${env:NAME}` or `${file:…}`. Secret fields are keys such as `password`, `token`, `client_secret`, `api_key`, `api.key` and auth headers; values that come from a reference, that name a variable (`$MYSQL_PASSWORD`) or that are obvious placeholders (`<your-token>`, all zeros) are not reported. `normalize --redact` hides every value of these fields."
            )
        case .corsWildcard:
            RuleInfo(
                self, .warning, .security, "CORS allows any origin.",
                "`allowed_origins: [\"*\"]` lets any web page send telemetry to the receiver from a visitor's browser, which invites data injection and abuse."
            )
        case .listenAllInterfaces:
            RuleInfo(
                self, .info, .security, "A listener binds 0.0.0.0 or `::`.",
                "Binding every interface exposes the endpoint beyond the host. In containers that is often intended; elsewhere prefer `localhost` or a specific address (the Collector's own default moved to localhost for this reason)."
            )
        case .portConflict:
            RuleInfo(
                self, .error, .security, "Two listeners use the same port.",
                "Two enabled components that bind the same address and port cannot both start; the second fails with 'address already in use' and takes the Collector down."
            )
        case .debugExtensionExposed:
            RuleInfo(
                self, .info, .security, "pprof or zpages listens beyond localhost.",
                "pprof and zpages expose process internals (heap dumps, span data) without authentication; they should listen on localhost only. Info, not a warning: in a container, binding all interfaces is how a port is published at all, and whether it is reachable is decided by the deployment (published ports, network policy), which the config does not show; every such listener in the labelled corpus was a container default or a demo."
            )
        case .receiverNoAuth:
            RuleInfo(
                self, .info, .security, "A receiver listens beyond localhost without authentication.",
                "A receiver bound to all interfaces with no `auth` accepts telemetry from anyone who can reach the port; add an authenticator extension or restrict the address."
            )
        }
    }
}
