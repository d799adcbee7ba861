// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks: Core's OpAMP codec against swift-protobuf on the same bytes, the
// gateway's framing, HTTP parsing and config hashing, and the Toolkit's lint pipeline on the
// Collector config corpus.
// Separate from the main package so its dependencies (package-benchmark, swift-protobuf)
// never reach the product build. Run: `swift package --disable-sandbox benchmark` (README.md).
let package = Package(
    name: "AmporaBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "ampora", path: ".."),
        // MallocInterposer gives malloc counts on Swift 6.3; naming it drops the default
        // RuntimeInterposer trait, whose package these machines cannot fetch.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        // swift-protobuf's generated OpAMP types (see README.md to regenerate).
        .target(
            name: "OpAMPPeer",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/OpAMPPeer"
        ),
        // libcrypto for the config-hashing benchmark: the raw SHA-256 floor under Fleet's ConfigHash.
        .systemLibrary(name: "CBenchCrypto", path: "Sources/CBenchCrypto"),
        .executableTarget(
            name: "GatewayCodec",
            dependencies: [
                .product(name: "GatewayCore", package: "ampora"),
                .product(name: "Benchmark", package: "benchmark"),
                "CBenchCrypto",
            ],
            path: "Benchmarks/GatewayCodec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "CoreCodec",
            dependencies: [
                .product(name: "Core", package: "ampora"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                "OpAMPPeer",
            ],
            path: "Benchmarks/CoreCodec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The Toolkit's lint pipeline on the Collector config corpus, per file and whole.
        .executableTarget(
            name: "ToolkitLint",
            dependencies: [
                .product(name: "Toolkit", package: "ampora"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ToolkitLint",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
