// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "warden",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-sample", targets: ["warden-sample"]),
        .library(name: "WardenCore", targets: ["WardenCore"]),
        .library(name: "WardenStore", targets: ["WardenStore"]),
        .library(name: "WardenPostgres", targets: ["WardenPostgres"]),
        .library(name: "WardenFleet", targets: ["WardenFleet"]),
        .library(name: "WardenSupervisor", targets: ["WardenSupervisor"]),
        .library(name: "WardenServer", targets: ["WardenServer"]),
        .library(name: "WardenIngest", targets: ["WardenIngest"]),
        .library(name: "WardenFuzzTargets", targets: ["WardenFuzzTargets"]),
        .library(name: "WardenHTTP", targets: ["WardenHTTP"]),
        .library(name: "WardenDetect", targets: ["WardenDetect"]),
        .library(name: "WardenHeal", targets: ["WardenHeal"]),
        .library(name: "WardenDefense", targets: ["WardenDefense"]),
        .library(name: "WardenSim", targets: ["WardenSim"]),
        .library(name: "WardenFlow", targets: ["WardenFlow"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
    ],
    targets: [
        // Linux system calls that must run between fork and exec, or that Glibc does not export.
        .target(name: "CWardenSys"),
        .target(
            name: "WardenCore",
            dependencies: [
                "CWardenSys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "WardenStore",
            dependencies: [
                "WardenCore",
                "CWardenSys",
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The store on PostgreSQL, for the fleet: apart from WardenStore so that a node (and the
        // fuzzer) builds without the PostgreSQL client.
        .target(
            name: "WardenPostgres",
            dependencies: [
                "WardenCore", "WardenStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fleet: the agent's uplink (its event log is the outbox), the wire format and the
        // `fleet:` section. The control plane is WardenControl.
        .target(
            name: "WardenFleet",
            dependencies: [
                "WardenCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WardenSupervisor",
            dependencies: [
                "WardenCore",
                "CWardenSys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Active defense: connection and log watching, threat scenarios, the analyst, firewall bans.
        .target(
            name: "WardenDefense",
            dependencies: [
                "WardenCore",
                "CWardenSys",
                // The defense section of the spec is read here, from Core's YAML reader.
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The telemetry ingest formats (JSON, Prometheus text, Influx line protocol): byte-level
        // parsers with the limits every format shares. No I/O.
        .target(name: "WardenIngest", dependencies: ["WardenCore"]),
        // Outbound HTTP(S) for the libraries (notifications, the analyst): AsyncHTTPClient behind
        // WardenCore's HTTPTransport, injected at the composition root.
        .target(
            name: "WardenHTTP",
            dependencies: [
                "WardenCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The simulated crew: vitals with faults, tied to a life-support service by marker files.
        .target(name: "WardenSim", dependencies: ["WardenCore"]),
        // Streaming anomaly detectors, the One-Class SVM, calibration to a failure probability, monitors
        // and the NAB scorer. Pure computation: no I/O beyond reading CSV files it is handed.
        .target(
            name: "WardenDetect",
            dependencies: [
                "WardenCore", "CWardenDetect",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The One-Class SVM's vectorised exp (AVX2 + FMA, chosen at run time).
        .target(name: "CWardenDetect"),
        .target(
            name: "WardenHeal",
            dependencies: [
                "WardenCore", "WardenStore", "WardenSupervisor",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Service level objectives: probe runs as good/bad events, windows counted from the store,
        // multi-window burn-rate alerts as events.
        .target(
            name: "WardenSLO",
            dependencies: [
                "WardenCore", "WardenStore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Workflows: graphs of steps (model calls, HTTP, programs, healing, records, events,
        // approvals) run from the store's durable job queue; the `workflows:` and `models:` sections.
        .target(
            name: "WardenFlow",
            dependencies: [
                "WardenCore", "WardenStore", "WardenSupervisor", "WardenHeal",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // GitOps: the node's spec from signed commits of a git repository, applied, watched and
        // rolled back; drift.
        .target(
            name: "WardenGitOps",
            dependencies: [
                "WardenCore", "WardenSupervisor",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Single sign-on: ID tokens of OpenID providers (discovery, keys, claims, roles, MFA) and the
        // dashboard's sign-in sessions. No HTTP server here; outbound calls through HTTPTransport.
        .target(
            name: "WardenIdentity",
            dependencies: [
                "WardenCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "WardenServer",
            dependencies: [
                "WardenCore",
                "WardenGitOps",
                "WardenIdentity",
                "WardenSLO",
                "WardenFlow",
                "WardenDefense",
                "WardenIngest",
                "WardenStore",
                "WardenSupervisor",
                "WardenHeal",
                "CWardenSys",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("openapi.yaml"), .embedInCode("dashboard.html"), .embedInCode("ui.css")]
        ),
        // The fleet's control plane: agents' batches into PostgreSQL, the fleet API. Apart from
        // WardenServer so that a node's server (and the fuzzer) builds without PostgreSQL.
        .target(
            name: "WardenControl",
            dependencies: [
                "WardenCore", "WardenServer", "WardenFleet", "WardenPostgres", "WardenStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("fleet.html"), .embedInCode("control-openapi.yaml")]
        ),
        .executableTarget(
            name: "warden",
            dependencies: [
                "CWardenSys",
                "WardenCore",
                "WardenStore",
                "WardenSupervisor",
                "WardenServer",
                "WardenSLO",
                "WardenFlow",
                "WardenDetect",
                "WardenHeal",
                "WardenDefense",
                "WardenSim",
                "WardenHTTP",
                "WardenFleet",
                "WardenPostgres",
                "WardenControl",
                "WardenGitOps",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "warden-sample", dependencies: ["CWardenSys"]),
        // The fuzz targets: every parser of outside input behind one function of bytes each,
        // driven by libFuzzer (Fuzz/, scripts/fuzz) and replayed over the corpus by the tests.
        .target(
            name: "WardenFuzzTargets",
            dependencies: [
                "WardenCore", "WardenDefense", "WardenDetect", "WardenFleet", "WardenFlow", "WardenHeal",
                "WardenIdentity", "WardenIngest", "WardenServer", "WardenSLO", "WardenStore", "WardenGitOps",
            ]
        ),
        // Helpers shared by the test targets: temporary directories, free ports, event waiting,
        // running the built binaries, a supervised node over a test's spec.
        .target(
            name: "WardenTestSupport",
            dependencies: ["WardenCore", "WardenSupervisor", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Support"
        ),
        .testTarget(name: "WardenCoreTests", dependencies: ["WardenCore", "WardenTestSupport"]),
        .testTarget(name: "WardenIngestTests", dependencies: ["WardenIngest"]),
        .testTarget(name: "WardenFuzzTests", dependencies: ["WardenFuzzTargets", "WardenTestSupport"]),
        .testTarget(
            name: "WardenStoreTests",
            dependencies: [
                "WardenStore", "WardenPostgres", "WardenTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "WardenSupervisorTests", dependencies: ["WardenSupervisor", "WardenTestSupport"]),
        // Fixtures/ holds reference numbers produced by scikit-learn and NAB; tests read them by path.
        .testTarget(
            name: "WardenHealTests",
            dependencies: ["WardenHeal", "WardenDetect", "WardenHTTP", "WardenTestSupport"]
        ),
        .testTarget(name: "WardenSimTests", dependencies: ["WardenSim"]),
        .testTarget(
            name: "WardenFlowTests",
            dependencies: ["WardenFlow", "WardenStore", "WardenHTTP", "WardenTestSupport"]
        ),
        .testTarget(name: "WardenSLOTests", dependencies: ["WardenSLO", "WardenStore", "WardenTestSupport"]),
        .testTarget(
            name: "WardenIdentityTests",
            dependencies: ["WardenIdentity", "WardenTestSupport", .product(name: "JWTKit", package: "jwt-kit")]
        ),
        .testTarget(name: "WardenGitOpsTests", dependencies: ["WardenGitOps", "WardenFleet", "WardenTestSupport"]),
        .testTarget(
            name: "WardenFleetTests",
            dependencies: ["WardenFleet", "WardenTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "WardenControlTests", dependencies: ["WardenControl"]),
        .testTarget(
            name: "WardenDefenseTests",
            dependencies: [
                "WardenDefense", "WardenStore", "WardenSupervisor", "WardenHTTP", "WardenTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WardenDetectTests",
            dependencies: ["WardenDetect", "WardenHeal", "WardenTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "WardenServerTests",
            dependencies: [
                "WardenServer", "WardenIdentity", "WardenHeal", "WardenDefense", "WardenHTTP", "WardenTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // End-to-end tests of the `warden` and `warden-sample` binaries; depending on them makes
        // `swift test` build both.
        .testTarget(
            name: "WardenIntegrationTests",
            dependencies: [
                "warden", "warden-sample", "WardenCore", "WardenStore", "WardenSupervisor", "WardenServer",
                "WardenHTTP", "WardenFleet",
                "WardenTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
