// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "dms-agent",
    products: [
        .executable(name: "dms-agent", targets: ["dms-agent"]),
        .executable(name: "dms-bench", targets: ["dms-bench"]),
        // What other packages may build on: the wire and the client. Everything else is the agent's own, visible
        // across its modules as `package` (PackageGraphTests checks both).
        .library(name: "DMSWire", targets: ["DMSWire"]),
        .library(name: "DMSClient", targets: ["DMSClient"]),
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
            dependencies: [
                "CLinuxProcess", "LinuxSupport", "DMSWire", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Requests, replies, events and their JSON: nothing of ours below it, so any Swift program may speak the wire.
        .target(name: "DMSWire"),
        // What an orchestrator written in Swift needs: request → reply over AMQP. No VaultFuse, curl, metrics or
        // lifecycle in its closure (PackageGraphTests checks it).
        .target(name: "DMSClient", dependencies: ["DMSWire", "AMQP", "LinuxSupport"]),
        // The agent: job bus, scheduler, executor and its effects (manager, Barbican, NFS), events, metrics.
        .target(
            name: "DMSAgentCore",
            dependencies: [
                "DMSWire", "AMQP", "VaultFuse", "CCurl", "LinuxSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Every setting: its option, environment variable, config key and default, and their resolution from the
        // command line, the environment and the original's config files into the agent's configurations.
        .target(
            name: "DMSSettings",
            dependencies: [
                "DMSAgentCore", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What an operator runs on the node besides the bus: doctor, the local commands, the health endpoint.
        .target(
            name: "DMSNodeTools",
            dependencies: [
                "DMSSettings", "DMSAgentCore", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "dms-agent",
            dependencies: [
                "DMSNodeTools", "DMSSettings", "DMSAgentCore", "DMSClient", "DMSWire", "LinuxSupport",
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
                "DMSClient", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["VaultFuse", "AMQP", "DMSClient", "DMSWire", "LinuxSupport", "CLinuxProcess"],
            path: "Tests/TestSupport"),
        .testTarget(name: "VaultFuseTests", dependencies: ["VaultFuse", "TestSupport"]),
        .target(
            name: "FuzzChecks",
            dependencies: ["DMSWire", "DMSAgentCore", "DMSSettings", "DMSNodeTools", "AMQP", "VaultFuse"],
            path: "Fuzz/Checks"),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzChecks"]),
        .testTarget(name: "LinuxSupportTests", dependencies: ["LinuxSupport"]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "LinuxSupport", "TestSupport"]),
        .testTarget(name: "DMSWireTests", dependencies: ["DMSWire", "TestSupport"]),
        .testTarget(name: "DMSClientTests", dependencies: ["DMSClient", "DMSWire", "AMQP", "TestSupport"]),
        .testTarget(
            name: "DMSAgentCoreTests",
            dependencies: ["DMSAgentCore", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport", "TestSupport"]),
        .testTarget(
            name: "DMSSettingsTests",
            dependencies: [
                "DMSSettings", "DMSAgentCore", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport", "TestSupport",
            ]),
        .testTarget(
            name: "DMSNodeToolsTests",
            dependencies: [
                "DMSNodeTools", "DMSSettings", "DMSAgentCore", "DMSWire", "AMQP", "VaultFuse", "LinuxSupport",
                "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "DMSClient", "DMSWire", "DMSAgentCore", "DMSSettings", "DMSNodeTools", "AMQP", "VaultFuse",
                "LinuxSupport", "TestSupport",
            ]),
        .testTarget(
            name: "ChaosTests",
            dependencies: ["DMSClient", "DMSWire", "DMSAgentCore", "AMQP", "VaultFuse", "TestSupport"]),
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
    // Every import means something: a member is usable only from a module the file imports, and an import is
    // internal unless the file's public API needs it (`public import`).
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .treatAllWarnings(as: .error), .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
        ]
}
