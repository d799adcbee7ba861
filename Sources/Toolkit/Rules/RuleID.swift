// Checks and settings name rules through this enum so that a misspelt id is a compile error rather than a finding
// without facts. Declaration order is the order `ampora-tool rules` and SARIF list rules in, so a new case goes at
// the end of its category.
/// A lint rule; the raw value is the stable id that output, `.ampora-lint.yaml` and inline disables use.
public enum RuleID: String, CaseIterable, Sendable {
    // structure
    case yamlSyntax = "yaml-syntax"
    case configEmpty = "config-empty"
    case unknownTopLevelKey = "unknown-top-level-key"
    case sectionShape = "section-shape"
    case noPipelines = "no-pipelines"
    case pipelineNoReceivers = "pipeline-no-receivers"
    case pipelineNoExporters = "pipeline-no-exporters"
    case invalidComponentID = "invalid-component-id"
    case invalidPipelineID = "invalid-pipeline-id"
    case duplicateProcessor = "duplicate-processor"
    case duplicatePipelineEntry = "duplicate-pipeline-entry"
    case invalidServiceSection = "invalid-service-section"
    case requiredSettingMissing = "required-setting-missing"
    case invalidDuration = "invalid-duration"
    case removedSetting = "removed-setting"
    case invalidValue = "invalid-value"
    case batchSizeInverted = "batch-size-inverted"

    // references
    case undeclaredComponent = "undeclared-component"
    case undeclaredExtension = "undeclared-extension"
    case unresolvedExtension = "unresolved-extension"
    case connectorIDClash = "connector-id-clash"
    case connectorOneSided = "connector-one-sided"
    case connectorSignalUnsupported = "connector-signal-unsupported"
    case connectorCycle = "connector-cycle"
    case componentSignalUnsupported = "component-signal-unsupported"
    case invalidReference = "invalid-reference"

    // registry
    case unknownComponentType = "unknown-component-type"
    case removedComponentType = "removed-component-type"
    case deprecatedAlias = "deprecated-alias"
    case deprecatedComponent = "deprecated-component"
    case unstableComponent = "unstable-component"
    case unmaintainedComponent = "unmaintained-component"

    // hygiene
    case memoryLimiterMissing = "memory-limiter-missing"
    case memoryLimiterNotFirst = "memory-limiter-not-first"
    case batchMissing = "batch-missing"
    case batchOrder = "batch-order"
    case exporterRetryDisabled = "exporter-retry-disabled"
    case exporterQueueDisabled = "exporter-queue-disabled"
    case queueSizing = "queue-sizing"
    case debugOnlyExporter = "debug-only-exporter"
    case debugVerbosityDetailed = "debug-verbosity-detailed"
    case unusedComponent = "unused-component"
    case extensionNotEnabled = "extension-not-enabled"
    case envUnsetNoDefault = "env-unset-no-default"
    case bareEnvVar = "bare-env-var"
    case ottlMisread = "ottl-misread"
    case ottlUnquoted = "ottl-unquoted"
    case templateMarker = "template-marker"
    case configTooLarge = "config-too-large"
    case profilesSignal = "profiles-signal"
    case telemetryMetricsAddress = "telemetry-metrics-address"
    case tailSamplingNoPolicies = "tail-sampling-no-policies"
    case healthCheckMissing = "health-check-missing"

    // security
    case tlsInsecureRemote = "tls-insecure-remote"
    case tlsSkipVerify = "tls-skip-verify"
    case tlsOldVersion = "tls-old-version"
    case inlinePrivateKey = "inline-private-key"
    case plaintextSecret = "plaintext-secret"
    case corsWildcard = "cors-wildcard"
    case listenAllInterfaces = "listen-all-interfaces"
    case portConflict = "port-conflict"
    case debugExtensionExposed = "debug-extension-exposed"
    case receiverNoAuth = "receiver-no-auth"
}

extension RuleID: CustomStringConvertible {
    /// The id, so that interpolating a rule into a message shows what users write rather than the case name.
    public var description: String { rawValue }
}
