// swift-tools-version:6.1
import PackageDescription

// Fuzz targets live in their own package so the main build never needs the sanitizers.
// Build and run with scripts/fuzz.sh.
let package = Package(
    name: "ampora-fuzz",
    dependencies: [.package(name: "ampora", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzOpAMPDecode",
            dependencies: [.product(name: "Core", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzWebSocketFrames",
            dependencies: [.product(name: "GatewayCore", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzHTTPParser",
            dependencies: [.product(name: "GatewayCore", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzTLSRecords",
            dependencies: [.product(name: "GatewayCore", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzLint",
            dependencies: [.product(name: "Toolkit", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzCanonicalJSON",
            dependencies: [.product(name: "Core", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzLintSettings",
            dependencies: [.product(name: "Toolkit", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzRESTBodies",
            dependencies: [.product(name: "Fleet", package: "ampora")]
        ),
        .executableTarget(
            name: "FuzzSessionSequence",
            dependencies: [.product(name: "Core", package: "ampora")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
