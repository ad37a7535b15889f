// swift-tools-version:6.1
// Benchmarks of WardenDetect, kept out of the root package so that `swift test` stays fast.
// Run from this directory: swift package benchmark
import PackageDescription

let package = Package(
    name: "warden-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "warden", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Detectors",
            dependencies: [
                .product(name: "WardenDetect", package: "warden"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Detectors",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
