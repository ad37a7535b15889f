// swift-tools-version:6.1
// libFuzzer over Warden's parsers of outside input, kept out of the root package (it builds with
// the fuzzer and address sanitizer). Run from the repository root: scripts/fuzz [seconds per target]
import PackageDescription

let package = Package(
    name: "warden-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "warden", path: "..")],
    targets: [
        .executableTarget(
            name: "warden-fuzz",
            dependencies: [.product(name: "WardenFuzzTargets", package: "warden")]
        )
    ],
    swiftLanguageModes: [.v6]
)
