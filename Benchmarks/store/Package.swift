// swift-tools-version:6.1
import PackageDescription

// Persistence throughput: Fleet's batch writer against per-row autocommit and raw COPY (or a
// raw SQLite transaction) on the same rows, in one run. Command and figures: ../../BENCHMARKS.md.
let package = Package(
    name: "AmporaStoreBench",
    dependencies: [.package(name: "ampora", path: "../..")],
    targets: [
        .systemLibrary(name: "CPQ", path: "Sources/CPQ"),
        .systemLibrary(name: "CSQL", path: "Sources/CSQL"),
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                .product(name: "Fleet", package: "ampora"), .product(name: "Core", package: "ampora"), "CPQ", "CSQL",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
