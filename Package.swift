// swift-tools-version: 6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "EventLog",
    // Linux only: the log uses inotify, Glibc and Linux's fcntl lock semantics, and the tests run on Linux
    // (Debian). No Apple platform is claimed until the tests pass there.
    products: [
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "StreamJet", targets: ["StreamJet"]),
        .library(name: "LiveViews", targets: ["LiveViews"]),
        .library(name: "Simulator", targets: ["Simulator"]),
        .library(name: "KafkaClient", targets: ["KafkaClient"]),
        .executable(name: "eventlog", targets: ["Tools"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.9.0"..<"6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // gzip and snappy, only to read batches Kafka clients compressed with them (the log writes lz4/zstd).
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        // librdkafka (Debian's librdkafka-dev) for the Kafka client, with a small C shim: its produce call is
        // variadic and its delivery reports arrive through a C callback, neither of which Swift can use.
        .target(name: "CRdKafka", linkerSettings: [.linkedLibrary("rdkafka")]),
        // Hand-written C for the one hot path Swift cannot reach: the SSE4.2 / ARMv8 CRC-32C instructions.
        .target(name: "CEventLogSupport"),
        // The building blocks every layer uses (locks, thread start-up), below all of them (DESIGN.md).
        .target(
            name: "EventLogFoundation",
            dependencies: ["CEventLogSupport", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: upcoming),
        .target(
            name: "EventLog",
            dependencies: [
                "EventLogFoundation", "CLZ4", "CZstd", "CZlib", "CSnappy", "CEventLogSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: upcoming),
        .target(name: "StreamJet", dependencies: ["EventLogFoundation", "EventLog"], swiftSettings: upcoming),
        .target(
            name: "LiveViews",
            dependencies: [
                "EventLogFoundation", "EventLog", "StreamJet", "CEventLogSupport",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        .target(
            name: "Simulator",
            dependencies: [
                "EventLogFoundation", "EventLog", "LiveViews", .product(name: "SwiftCSV", package: "SwiftCSV"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming),
        // The Kafka wire protocol over the log: the codec is hand-written (it is the product), the sockets are
        // swift-nio's.
        .target(
            name: "KafkaServer",
            dependencies: [
                "EventLogFoundation", "EventLog",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming),
        // What the command line reads (lines of records, bounded): a library so tests and the fuzzer reach it.
        .target(name: "CommandLineInput", dependencies: ["EventLog"], swiftSettings: upcoming),
        // A Kafka client on librdkafka (not hand-written: the client is not the product): producer,
        // assign-only consumer, StreamJet's Kafka source and sink, and the topic mirror.
        .target(
            name: "KafkaClient",
            dependencies: ["CRdKafka", "EventLogFoundation", "EventLog", "StreamJet"],
            swiftSettings: upcoming),
        // Change data capture from PostgreSQL (`eventlog cdc postgres`): the pgoutput decoder and the exactly-once
        // relay are written here (they are the product); the PostgreSQL connection is postgres-nio's.
        .target(
            name: "ChangeCapture",
            dependencies: [
                "EventLogFoundation", "EventLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // SCRAM-SHA-256 for the replication connection (SHA-256 and HMAC).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        // The event-sourced account, catalog, inventory and order services and the order saga's orchestrator
        // (`eventlog services`), on EventStreams.
        .target(name: "Services", dependencies: ["EventLogFoundation", "EventLog"], swiftSettings: upcoming),
        // The HTTP API (`eventlog serve --http`): handlers written here, the HTTP server is Hummingbird's.
        .target(
            name: "WebServer",
            dependencies: [
                "EventLogFoundation", "EventLog", "LiveViews", "Simulator", "Services",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The dashboard's HTML, CSS and JavaScript, served as written (no build step).
            resources: [.copy("Dashboard")],
            swiftSettings: upcoming),
        .executableTarget(
            name: "Tools",
            dependencies: [
                "CommandLineInput", "EventLog", "StreamJet", "KafkaClient", "WebServer", "LiveViews", "Simulator",
                "KafkaServer", "ChangeCapture", "Services",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // `simulate --sink postgres` writes the original's tables and outbox.
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: upcoming),
        // SQLite from Debian: the oracle LiveViews' SQL answers are compared with (tests only).
        .systemLibrary(
            name: "CSQLite", path: "Tests/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Helpers shared by the test targets: temporary directories, seeded generators, printed seeds.
        .target(name: "TestSupport", dependencies: ["EventLogFoundation"], path: "Tests/TestSupport"),
        .testTarget(
            name: "FoundationTests", dependencies: ["EventLogFoundation", "TestSupport"], swiftSettings: upcoming),
        .testTarget(
            name: "EventLogTests",
            dependencies: [
                "EventLogFoundation", "EventLog", "CEventLogSupport", "TestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "CommandLineInputTests", dependencies: ["CommandLineInput", "EventLog", "TestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "StreamJetTests",
            dependencies: [
                "StreamJet", "EventLog", "TestSupport", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "LiveViewsTests",
            dependencies: [
                "LiveViews", "StreamJet", "EventLog", "EventLogFoundation", "TestSupport", "CSQLite",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "KafkaServerTests",
            dependencies: [
                "KafkaServer", "KafkaClient", "StreamJet", "LiveViews", "EventLog", "EventLogFoundation", "Simulator",
                "Services", "TestSupport",
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "ChangeCaptureTests",
            dependencies: [
                "ChangeCapture", "EventLog", "TestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "ServicesTests", dependencies: ["Services", "EventLog", "EventLogFoundation", "TestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "SimulatorTests",
            dependencies: [
                "Simulator", "EventLog", "EventLogFoundation", "TestSupport",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming),
    ]
)

// package-benchmark suites: `ENABLE_BENCHMARKS=1 swift package benchmark`. Gated so ordinary builds stay light.
if Context.environment["ENABLE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "EventLogBenchmarks",
            dependencies: ["EventLog", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/EventLogBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

// libFuzzer targets: `bash scripts/fuzz.sh <target>` builds them with ENABLE_FUZZ=1 and
// -sanitize=fuzzer,address into .build-fuzz. Gated because libFuzzer supplies their `main`.
if Context.environment["ENABLE_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/Support"))
    for (name, dependency) in [
        ("RecordBatch", "EventLog"), ("SQLParser", "Simulator"), ("StoreCSV", "Simulator"),
        ("ProduceInput", "CommandLineInput"), ("KafkaRequest", "KafkaServer"),
    ] {
        package.targets.append(
            .executableTarget(
                name: "Fuzz" + name, dependencies: [.target(name: dependency), "FuzzSupport"], path: "Fuzz/" + name,
                exclude: ["corpus"]))
    }
}
