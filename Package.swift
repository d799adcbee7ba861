// swift-tools-version:6.2
import PackageDescription

/// Our own targets: `any` spelled out for every existential, and no warning left standing.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny"), .treatAllWarnings(as: .error)]

/// Core's zero-copy views and GatewayCore's lent WebSocket payloads are non-escapable, their
/// lifetimes tied to the bytes they read (`@_lifetime`), so the compiler rejects one that would
/// outlive its input.
let lifetimes: [SwiftSetting] = [.enableExperimentalFeature("Lifetimes")]

/// Fuzzing only (scripts/fuzz.sh, FUZZING.md): when AMPORA_FUZZ_COVERAGE is set (a comma list of
/// modules), the modules named get libFuzzer's coverage counters and the others given `fuzzed` get
/// AddressSanitizer alone, so that a target's binary holds counters only for the module it tests
/// and libFuzzer walks fewer of them per input. These flags come after SwiftPM's own sanitizer flags,
/// whose order varies, and swiftc keeps only the last -sanitize= flag. Unset in every other build.
let fuzzCoverage = Context.environment["AMPORA_FUZZ_COVERAGE"].map { Set($0.split(separator: ",").map(String.init)) }
func fuzzed(_ module: String) -> [SwiftSetting] {
    guard let fuzzCoverage else { return [] }
    return fuzzCoverage.contains(module)
        ? [.unsafeFlags(["-sanitize=fuzzer,address", "-sanitize-coverage=edge,pc-table,inline-8bit-counters"])]
        : [.unsafeFlags(["-sanitize=address"])]
}

// The target graph enforces the module boundaries of docs/ARCHITECTURE.md: a forbidden import
// is a missing dependency, so a compile error. Core and Toolkit never see each other; only
// Fleet sees both.
let package = Package(
    name: "ampora",
    products: [
        .library(name: "Core", targets: ["Core"]),
        .library(name: "Toolkit", targets: ["Toolkit"]),
        .library(name: "GatewayCore", targets: ["GatewayCore"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .library(name: "Fleet", targets: ["Fleet"]),
        .library(name: "Web", targets: ["Web"]),
        .executable(name: "ampora", targets: ["ampora"]),
        .executable(name: "ampora-tool", targets: ["ampora-tool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer", exact: "1.6.1"),
        .package(url: "https://github.com/vapor/jwt-kit", exact: "5.8.0"),
    ],
    targets: [
        // C libraries, each behind one small system-library module.
        .systemLibrary(name: "CLibURing", path: "Sources/CLibURing"),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),

        // OpAMP wire format and session logic: no I/O, no Foundation.
        .target(name: "Core", swiftSettings: strict + lifetimes + fuzzed("Core")),
        // Collector config YAML: no OpAMP, no sockets, no databases.
        .target(name: "Toolkit", dependencies: [.product(name: "Yams", package: "Yams")], swiftSettings: strict),
        // Per-connection protocol logic (HTTP/1.1, WebSocket, the connection machine): no sockets,
        // no threads, no Glibc, time from an injected clock.
        .target(
            name: "GatewayCore", dependencies: ["Core", "COpenSSL", "CZlib"],
            swiftSettings: strict + lifetimes + fuzzed("GatewayCore")),
        // The I/O engines (io_uring, epoll) that drive GatewayCore's machine: knows Core, never
        // Fleet or Toolkit.
        .target(
            name: "Gateway", dependencies: ["Core", "GatewayCore", "CLibURing", "COpenSSL", "CZlib", "CLinux"],
            swiftSettings: strict),
        // Fleet management and persistence: the one module that sees Core and Toolkit.
        .target(
            name: "Fleet", dependencies: ["Core", "Toolkit", "CLibPQ", "CSQLite", "COpenSSL"], swiftSettings: strict),
        // Operator REST API and UI, on Fleet's services only.
        .target(
            name: "Web",
            dependencies: [
                "Core", "Fleet", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            // The OpenAPI document and the web UI's script and style sheet are compiled into the
            // binary: `ampora serve` needs no files.
            resources: [
                .embedInCode("openapi.json"), .embedInCode("Assets/app.css"), .embedInCode("Assets/app.js"),
            ],
            swiftSettings: strict
        ),

        .executableTarget(
            name: "ampora",
            dependencies: [
                "Core", "GatewayCore", "Gateway", "Fleet", "Web",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ampora-tool",
            dependencies: [
                "Core", "Toolkit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // Linked into the test binary only: makes ThreadSanitizer see Synchronization.Mutex's
        // contended paths (Tests/MutexTSanShim/MutexTSanShim.c says how and why).
        .target(name: "MutexTSanShim", path: "Tests/MutexTSanShim"),

        .testTarget(
            name: "CoreTests",
            dependencies: [
                "Core",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: ["Gateway", "GatewayCore", "Core", "CLinux", "COpenSSL", "MutexTSanShim"],
            // Test certificates, read by path (they are also used by tests/python).
            exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "ToolkitTests", dependencies: ["Toolkit"], resources: [.copy("Fixtures")], swiftSettings: strict),
        // Hot-path operations must not allocate: counted with malloc-interposer, which the test
        // command preloads (scripts/test.sh); see Tests/AllocationTests.
        .testTarget(
            name: "AllocationTests",
            dependencies: [
                "Core", "GatewayCore", .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FleetTests", dependencies: ["Fleet", "Core", "CLibPQ", "CSQLite", "MutexTSanShim"],
            swiftSettings: strict),
        // The operator API in process: its access table against its router, and its middleware.
        .testTarget(
            name: "WebTests",
            dependencies: [
                "Web", "Fleet", "MutexTSanShim", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
