// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "dofs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dofs", targets: ["dofs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries, each behind a tiny shim header (variadic calls, macros).
        .systemLibrary(name: "CFuse3", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CLinux"),

        // Content IDs, pieces hash files, HashOfHashes, piece math, SHA-256.
        .target(name: "DOCore", dependencies: ["COpenSSL"]),
        // libcurl multi client: range GETs with timeouts, many transfers on one thread.
        .target(name: "DOHTTP", dependencies: ["CCurl", "DOCore", .product(name: "Logging", package: "swift-log")]),
        // The control plane, both sides of the wire: DO's geo -> key-value -> content policy -> discovery
        // -> array join, the registry of published content (SQLite, or PostgreSQL for a fleet, with swarm
        // membership), and the client that walks the chain.
        .target(name: "DOControlPlane", dependencies: [
            "CSQLite", "DOCore", "DOHTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The swarm: wire codec, peer connections, peer server, bans.
        .target(name: "DOSwarm", dependencies: [
            "DOCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Piece store -> scheduler -> sources -> verifier: everything between a read and the network.
        .target(name: "DOEngine", dependencies: [
            "CLinux", "DOCore", "DOHTTP", "DOSwarm", .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The FUSE adapter: inodes, namespace, xattrs, async replies.
        .target(name: "DOFS", dependencies: [
            "CFuse3", "DOCore", "DOEngine", .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The node: one per host, owning the cache, the control plane client, the peer server and every
        // mount; its control socket is how `dofs mount` / `dofs unmount` reach it.
        .target(name: "DONode", dependencies: [
            "DOCore", "DOHTTP", "DOControlPlane", "DOEngine", "DOFS", "DOSwarm",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "dofs", dependencies: [
            "DOCore", "DOHTTP", "DOControlPlane", "DOEngine", "DOFS", "DONode",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "DOCoreTests", dependencies: ["DOCore"]),
        .testTarget(name: "DOControlPlaneTests", dependencies: [
            "DOCore", "DOHTTP", "DOControlPlane", .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .testTarget(name: "DOSwarmTests", dependencies: [
            "DOCore", "DOSwarm", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "DOEngineTests", dependencies: [
            "DOCore", "DOHTTP", "DOEngine", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "DOFSTests", dependencies: ["DOCore", "DOEngine", "DOFS"]),
        .testTarget(name: "DONodeTests", dependencies: ["DONode", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "IntegrationTests", dependencies: ["DOCore", "DOSwarm"], exclude: ["Fixtures"]),
    ]
)
