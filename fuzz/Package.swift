// swift-tools-version:6.1
import PackageDescription

// Fuzz targets live in their own package so the main build never needs the sanitizers.
// Build and run with scripts/fuzz.sh.

/// When scripts/fuzz.sh builds with coverage for named modules only (AMPORA_FUZZ_COVERAGE, see the
/// main Package.swift), the rest of the build has AddressSanitizer alone, so the harnesses ask for
/// coverage themselves; one -sanitize= list, as swiftc keeps only the last (FUZZING.md).
let harness: [SwiftSetting] =
    Context.environment["AMPORA_FUZZ_COVERAGE"] == nil
    ? [] : [.unsafeFlags(["-sanitize=fuzzer,address", "-sanitize-coverage=edge,pc-table,inline-8bit-counters"])]
let package = Package(
    name: "ampora-fuzz",
    dependencies: [.package(name: "ampora", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzOpAMPDecode",
            dependencies: [.product(name: "Core", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzWebSocketFrames",
            dependencies: [.product(name: "GatewayCore", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzHTTPParser",
            dependencies: [.product(name: "GatewayCore", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzTLSRecords",
            dependencies: [.product(name: "GatewayCore", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzLint",
            dependencies: [.product(name: "Toolkit", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzCanonicalJSON",
            dependencies: [.product(name: "Core", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzLintSettings",
            dependencies: [.product(name: "Toolkit", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzRESTBodies",
            dependencies: [.product(name: "Fleet", package: "ampora")],
            swiftSettings: harness
        ),
        .executableTarget(
            name: "FuzzSessionSequence",
            dependencies: [.product(name: "Core", package: "ampora")],
            swiftSettings: harness
        ),
    ],
    swiftLanguageModes: [.v6]
)
