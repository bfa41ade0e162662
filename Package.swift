// swift-tools-version:6.1
import Foundation
import PackageDescription

/// The version, from one place: the VERSION file (also read by the Makefile's `deb`). The commit is
/// added by the Makefile's release builds (`-Xcc -DPE_COMMIT=…`, see Sources/CBuildInfo).
let version = ((try? String(contentsOfFile: Context.packageDirectory + "/VERSION", encoding: .utf8)) ?? "unknown")
    .trimmingCharacters(in: .whitespacesAndNewlines)

/// Release builds drop the runtime exclusivity checks on the hot path (debug builds and the tests keep
/// them): they cost about a tenth of the export's time in profiles (see docs/performance.md).
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "partner-export",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "partner-export", targets: ["partner-export"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The executable: a few lines that hand over to the command library.
        .executableTarget(name: "partner-export", dependencies: ["ExportCommands"]),
        // For the tests only (not a product): the same commands with the clock fixed at PARTNER_EXPORT_NOW.
        .executableTarget(name: "partner-export-fixed-clock", dependencies: ["ExportCommands", "ExportCore"]),
        // One file per subcommand, the shared options, logging bootstrap and terminal output.
        .target(name: "ExportCommands", dependencies: [
            "ExportCore", "ExportConfig", "CustomerSource", "FeedRendering", "Pipeline", "DemoData", "Delivery", "Ledger", "Reports",
            "SafeFiles", "CMalloc", "CLibXML2", "CSQLite", "Postgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Pure core: contracts, mappings, forms, eligibility, records, the retry policy, errors. No I/O.
        .target(name: "ExportCore", dependencies: ["CCrypto"], swiftSettings: hotPath),
        // YAML files -> validated core types, with file:line diagnostics.
        .target(name: "ExportConfig", dependencies: ["ExportCore", "Yams"]),
        // The customer database: a cursor over eligible customers reading only the columns a mapping needs.
        .target(name: "CustomerSource", dependencies: ["ExportCore", "SQLite", "Postgres"], swiftSettings: hotPath),
        // JSON and XML (libxml2) feed writers, XML 1.0 sanitising, XSD validation.
        .target(name: "FeedRendering", dependencies: ["ExportCore", "CLibXML2"], swiftSettings: hotPath),
        // The run: Run/Runner.swift (one path for run, run --due/--join and rerun, on either ledger), the
        // Executor that takes its work items (Work/), one partner's item in Run/PartnerRun.swift; rendering
        // (Render/), the disclosure log's checkpoints and proofs (Audit/), and what preview, dry run, prune,
        // validate and runs show need (Commands/).
        .target(name: "Pipeline", dependencies: ["ExportCore", "ExportConfig", "CustomerSource", "FeedRendering", "Delivery", "Ledger",
                                                 "SafeFiles", "Reports"],
                swiftSettings: hotPath),
        // The `--json` shapes and the stored run report: one Codable type per shape.
        .target(name: "Reports", dependencies: ["ExportCore"]),
        // Files of customer data: owner-only, never written through a link, replaced atomically or streamed into a device.
        .target(name: "SafeFiles", dependencies: ["ExportCore"]),
        // Deterministic synthetic customers in the canonical schema, for the demo, tests and benchmarks.
        .target(name: "DemoData", dependencies: ["SQLite", "ExportCore"]),
        // The libcurl HTTPS client: one conformance of the core's Transport; gzip; Standard Webhooks signing.
        .target(name: "Delivery", dependencies: ["ExportCore", "CCurl", "CZlib", "CBuildInfo"],
                swiftSettings: [.unsafeFlags(["-Xcc", "-DPE_VERSION=\(version)"])]),
        // The ledger: the protocols the pipeline uses (runs, feeds, deliveries, disclosures, retention, counters,
        // the work queue, the run lock, the payload store), one SQL implementation over SQLite and PostgreSQL,
        // the state folder and its lock.
        .target(name: "Ledger", dependencies: ["ExportCore", "SQLite", "Postgres", "SafeFiles"], swiftSettings: hotPath),
        // A small typed layer over the SQLite C API: open, prepare, bind, step, read bytes.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // A small typed layer over libpq: connect, execute, query with parameters, COPY out in binary form.
        .target(name: "Postgres", dependencies: ["CPostgres"], swiftSettings: hotPath),

        // What each fuzz target checks of one input: used by `make fuzz` (compiled with ExportCore as one
        // module, under libFuzzer) and by the test that replays the seeds and every kept finding.
        .target(name: "FuzzEntries", dependencies: ["ExportCore"]),
        // Helpers for the tests only: fixture databases, a strict XML parser, the binary runner.
        .target(name: "TestSupport", dependencies: ["SQLite", "Postgres", "DemoData", "CLibXML2", "ExportCore"]),

        // C libraries behind small typed shim headers.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // SHA-256 and HMAC-SHA256 (libcurl already loads libcrypto).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CBuildInfo"),

        .testTarget(name: "ExportCoreTests", dependencies: ["ExportCore", "TestSupport", "FuzzEntries"]),
        .testTarget(name: "ExportConfigTests", dependencies: ["ExportConfig", "ExportCore", "TestSupport"]),
        .testTarget(name: "FeedRenderingTests", dependencies: ["FeedRendering", "ExportCore", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "CustomerSource", "ExportConfig", "TestSupport", "SQLite", "Ledger",
                                                    "Postgres"]),
        .testTarget(name: "DeliveryTests", dependencies: ["Delivery", "ExportCore"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "SQLite", "Postgres", "ExportCore", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["partner-export", "partner-export-fixed-clock", "TestSupport", "DemoData", "Postgres",
                                                     "Reports", "ExportCore"],
                    exclude: ["Golden", "Upgrade"]),
    ]
)
