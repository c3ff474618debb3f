// swift-tools-version:6.1
import PackageDescription

/// gatewayd: a Bluetooth LE health-device gateway with a columnar time-series store and a FHIR API.
/// Module arrows follow DESIGN.md: Provenance and TimeSeries import nothing of ours but `CivilDate` (the calendar's
/// arithmetic, no domain); only `gatewayd` wires.
let package = Package(
    name: "gatewayd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gatewayd", targets: ["gatewayd"]),
        .library(name: "TimeSeries", targets: ["TimeSeries"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // TLS for the API and the hub (HummingbirdTLS over NIOSSL, which AsyncHTTPClient brings anyway) and the
        // self-signed certificate a gateway makes for itself on first start.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // Thin bridges to Debian's C libraries.
        .systemLibrary(
            name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(
            name: "CBlueZ", path: "Sources/CBlueZ", pkgConfig: "bluez",
            providers: [.apt(["libbluetooth-dev"])]),
        // libsqlite3 is bridged by GRDB's own system-library target `GRDBSQLite` (the catalog and the
        // benchmark baseline both use it), so there is one module map for sqlite3.h, not two.

        // The civil calendar as integer arithmetic (`LocalDate`), under both leaves: a device's wall clock and the store's
        // local days count days the same way, in one place.
        .target(name: "CivilDate"),
        .target(
            name: "Provenance", dependencies: ["CivilDate", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "TimeSeries",
            dependencies: [
                "CivilDate", "CZstd",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .target(
            name: "BLEGateway",
            dependencies: [
                "Provenance", "CBlueZ",
                // AES-CMAC (the Database Hash of a GATT server) is built on the AES block function in the extras.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .target(
            name: "StreamEngine",
            dependencies: [
                "Provenance", "TimeSeries",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .target(
            name: "FHIR",
            dependencies: [
                "Provenance", "TimeSeries", "StreamEngine",
                .product(name: "Crypto", package: "swift-crypto"),
                // RS384 client assertions (SMART Backend Services): RSA signing is in swift-crypto's extras.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The daemon's library: configuration (tokens, the listener's TLS), the data directory's pipeline, the daemon's
        // services, pairing, the hub's transactions and sync, backup's file formats. No HTTP server: that is GatewayHTTP.
        .target(
            name: "GatewayRuntime",
            dependencies: [
                "CivilDate", "Provenance", "TimeSeries", "BLEGateway", "StreamEngine", "FHIR", "CBlueZ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The router: the FHIR API's routes and operations, /metrics, the token endpoint and the local pages, over the
        // runtime (DESIGN.md "Modules"); the executable gives the daemon its server from here.
        .target(
            name: "GatewayHTTP",
            dependencies: [
                "GatewayRuntime", "Provenance", "StreamEngine", "FHIR", "TimeSeries", "BLEGateway",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "gatewayd",
            dependencies: [
                "GatewayRuntime", "GatewayHTTP", "Provenance", "TimeSeries", "BLEGateway", "StreamEngine", "FHIR",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: [
                "TimeSeries",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/StoreBenchmark"),
        .executableTarget(
            name: "PipelineBenchmark",
            dependencies: [
                "BLEGateway", "StreamEngine", "Provenance", "TimeSeries",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PipelineBenchmark"),
        .executableTarget(
            name: "GatewayBenchmark",
            dependencies: [
                "Provenance", "TimeSeries", "BLEGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/GatewayBenchmark"),
        // libFuzzer targets (README "Fuzzing"). Built with `-sanitize=fuzzer -DFUZZING` libFuzzer supplies `main`;
        // a plain build gives small executables that replay input files, so `swift build` still links them.
        .executableTarget(name: "DecoderFuzzer", dependencies: ["BLEGateway"], path: "Fuzz/DecoderFuzzer"),
        .executableTarget(
            name: "ATTClientFuzzer",
            dependencies: ["BLEGateway", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/ATTClientFuzzer"),

        // Helpers the test targets share (seeded randomness, scratch directories, polling for state without an event).
        .target(name: "TestSupport", dependencies: ["TimeSeries", "BLEGateway"], path: "Tests/TestSupport"),
        .testTarget(
            name: "TimeSeriesTests",
            dependencies: ["TimeSeries", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "BLEGatewayTests", dependencies: ["BLEGateway", "TestSupport"]),
        .testTarget(name: "ProvenanceTests", dependencies: ["Provenance", "TestSupport"]),
        .testTarget(
            name: "StreamEngineTests",
            dependencies: ["StreamEngine", "Provenance", "TimeSeries", "BLEGateway", "TestSupport"]),
        .testTarget(
            name: "FHIRTests",
            dependencies: [
                "FHIR", "Provenance", "StreamEngine", "TimeSeries", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]),
        .testTarget(
            name: "GatewayHTTPTests",
            dependencies: [
                "GatewayHTTP", "GatewayRuntime", "StreamEngine", "Provenance", "FHIR", "BLEGateway", "TimeSeries",
                "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "gatewayd", "GatewayRuntime", "GatewayHTTP", "TimeSeries", "StreamEngine", "Provenance", "BLEGateway",
                "CBlueZ", "FHIR", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
