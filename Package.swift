// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "SpaceGrid",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "spacegrid", targets: ["spacegrid"]),
        .library(name: "GridClient", targets: ["GridClient"]),
        .library(name: "GridRuntime", targets: ["GridRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        /// libzmq from Debian's libzmq3-dev (libzmq 4.3.4, no draft API). Headers sit in
        /// /usr/include and the module map links `zmq`, so pkg-config is not consulted:
        /// Debian's libzmq.pc adds `-isystem /usr/include/mit-krb5`, which SwiftPM warns about.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        /// A small, safe wrapper over libzmq: context, sockets, multipart messages, poller.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        /// Pure state machines and value types: partitioning, placement, the partition table, stores.
        .target(name: "GridCore"),
        /// Encoding and decoding of every message on the wire; nothing else.
        .target(name: "GridWire", dependencies: ["GridCore"], exclude: ["PROTOCOL.md"]),
        /// The topology model, YAML decoding and validation with lines and columns.
        .target(name: "GridTopology", dependencies: ["GridCore", .product(name: "Yams", package: "Yams")]),
        /// The trading platform's sections (customer, product, order) and the order workflow,
        /// written against the section API in GridCore.
        .target(name: "TradingSections", dependencies: ["GridCore"]),
        /// Write-behind backends: where the mirror persists batches and cold starts read from.
        /// SQLite through GRDB (its GRDBSQLite module links the system's libsqlite3, apt libsqlite3-dev).
        .target(name: "GridStore", dependencies: [
            "GridCore", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// The client library used by the CLI and by applications.
        .target(name: "GridClient", dependencies: ["ZeroMQ", "GridWire", "GridCore"]),
        /// Broker, unit and deployment-manager shells around the pure core.
        .target(name: "GridRuntime", dependencies: [
            "ZeroMQ", "GridCore", "GridWire", "GridTopology", "GridClient", "GridStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        /// The `spacegrid` command-line tool: thin.
        .executableTarget(name: "spacegrid", dependencies: [
            "GridRuntime", "GridClient", "GridTopology", "GridCore", "GridWire", "ZeroMQ", "TradingSections",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "GridCoreTests", dependencies: ["GridCore"]),
        .testTarget(name: "GridWireTests", dependencies: ["GridWire", "GridCore"]),
        .testTarget(name: "GridTopologyTests", dependencies: ["GridTopology", "GridCore"]),
        .testTarget(name: "GridRuntimeTests", dependencies: ["GridRuntime", "GridClient", "GridWire", "GridCore", "GridTopology", "ZeroMQ", "TradingSections"]),
        .testTarget(name: "TradingSectionsTests", dependencies: ["TradingSections", "GridCore"]),
        .testTarget(name: "SpacegridTests", dependencies: ["GridClient", "GridCore", "GridStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "GridStoreTests", dependencies: ["GridStore", "GridCore"]),
    ],
    swiftLanguageModes: [.v6]
)
