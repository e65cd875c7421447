// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "dms-agent",
    products: [
        .executable(name: "dms-agent", targets: ["dms-agent"]),
        .executable(name: "dms-bench", targets: ["dms-bench"]),
        .library(name: "VaultFuse", targets: ["VaultFuse"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "DMS", targets: ["DMS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // libcurl's headers at build time (libcurl4-openssl-dev); the library itself is dlopen'ed on first use.
        .target(name: "CCurl"),
        .target(name: "CLinuxProcess"),
        .target(name: "LinuxSupport", dependencies: ["CLinuxProcess"]),
        .target(
            name: "AMQP",
            dependencies: ["CRabbitMQ", "LinuxSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "VaultFuse",
            dependencies: ["CLinuxProcess", "LinuxSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "DMS",
            dependencies: [
                "AMQP", "VaultFuse", "CCurl", "LinuxSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "dms-agent",
            dependencies: [
                "DMS", "LinuxSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "dms-bench",
            dependencies: [
                "DMS", "AMQP", "VaultFuse", "LinuxSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TestSupport", dependencies: ["VaultFuse", "AMQP", "DMS", "LinuxSupport", "CLinuxProcess"],
            path: "Tests/TestSupport"),
        .testTarget(name: "VaultFuseTests", dependencies: ["VaultFuse", "TestSupport"]),
        .target(name: "FuzzChecks", dependencies: ["DMS", "AMQP", "VaultFuse"], path: "Fuzz/Checks"),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzChecks"]),
        .testTarget(name: "LinuxSupportTests", dependencies: ["LinuxSupport"]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "LinuxSupport", "TestSupport"]),
        .testTarget(name: "DMSTests", dependencies: ["DMS", "LinuxSupport", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["DMS", "AMQP", "VaultFuse", "TestSupport"]),
        .testTarget(name: "ChaosTests", dependencies: ["DMS", "AMQP", "VaultFuse", "TestSupport"]),
    ]
)

// The libFuzzer targets (scripts/fuzz.sh builds them with -sanitize=fuzzer,address into .build-fuzz): declared only
// when asked for, so the normal build never sees them. Their checks (FuzzChecks) and corpora are in every build.
if Context.environment["DMS_FUZZ"] != nil {
    for name in [
        "request", "dead-letter", "config-file", "transport-url", "pid-file", "mountinfo", "env-file", "barbican-env",
    ] {
        package.targets.append(
            .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzChecks"], path: "Fuzz/Targets/fuzz-\(name)"))
    }
}

// Every Swift target of ours treats a warning as an error (the C targets and the packages we use are not ours).
for target in package.targets where target.type != .system && !target.name.hasPrefix("C") {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}
