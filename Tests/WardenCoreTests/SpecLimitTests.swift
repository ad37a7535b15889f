import Foundation
import Testing
import WardenTestSupport

@testable import WardenCore

/// Hostile and oversized specs: each gets a located error (or loads), never a hang or a crash.
@Suite("Spec limits", .timeLimit(.minutes(1)))
struct SpecLimitTests {
    let loader = SpecLoader(environment: ["PATH": "/usr/bin:/bin", "HOME": "/root"])

    func problems(_ yaml: String) -> [String] { loader.problems(yaml) }

    /// Invalid UTF-8 used to say only "cannot be read".
    @Test func bytesThatAreNotUTF8AreLocated() throws {
        let dir = TempDir("warden-spec")
        let path = dir.file("warden.yaml")
        var bytes = Array("services:\n  a:\n    run: [/bin/sleep, \"1".utf8)
        bytes += [0xC3, 0x28]  // a lead byte without its continuation
        bytes += Array("\"]\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try loader.load(path: path)
            Issue.record("loaded a spec that is not UTF-8")
        } catch {
            #expect(
                error.issues.map(\.description) == ["\(path):3:25: the byte 0xC3 is not UTF-8; save the spec as UTF-8"]
            )
        }
    }

    @Test func theUTF8CheckAgreesWithTheStandardLibrary() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<5_000 {
            let length = Int(rng.next() % 12)
            let bytes = (0..<length).map { _ in
                rng.next() % 3 == 0
                    ? UInt8(truncatingIfNeeded: rng.next()) : UInt8(truncatingIfNeeded: 0x80 | rng.next() % 0x40)
            }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            #expect((SpecLoader.firstInvalidUTF8(bytes) == nil) == valid, "\(bytes)")
        }
        #expect(SpecLoader.firstInvalidUTF8(Array("héllo 😀 ✓".utf8)) == nil)
        #expect(SpecLoader.firstInvalidUTF8([0x61, 0xED, 0xA0, 0x80]) == 1, "a surrogate is not UTF-8")
        #expect(SpecLoader.firstInvalidUTF8([0xF4, 0x90, 0x80, 0x80]) == 0, "beyond U+10FFFF")
        #expect(SpecLoader.firstInvalidUTF8([0xC0, 0x80]) == 0, "an overlong form")
    }

    @Test func aHugeSpecFileIsRefusedBeforeItIsRead() throws {
        let dir = TempDir("warden-spec")
        let path = dir.file("warden.yaml")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(SpecLoader.maxFileSize + 1))
        try handle.close()
        do {
            _ = try loader.load(path: path)
            Issue.record("loaded a spec larger than the limit")
        } catch {
            #expect(error.issues.first?.message.contains("larger than 16MB") == true, "\(error)")
        }
    }

    /// A secret file that never ends (or is huge) is refused after 64 KB, not read into memory.
    @Test func aSecretFileThatNeverEndsIsRefused() {
        guard case .failure(let problem) = loader.resolveSecret("file:/dev/zero") else {
            Issue.record("read a secret from /dev/zero")
            return
        }
        #expect(problem.message == "the secret file /dev/zero is larger than 64KB; it must hold one secret")
    }

    @Test func deepNestingIsALocatedError() {
        let deep = "services: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let found = problems(deep)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("warden.yaml:1:") == true)
        #expect(found.first?.contains("nesting") == true, "\(found)")
    }

    /// Aliases that expand to a trillion nodes ("billion laughs") under every section.
    @Test(arguments: ["run", "env", "after", "restart", "health", "ready", "rebuild", "stop", "logs"])
    func anAliasBombIsNotExpanded(key: String) {
        var yaml = aliasBomb() + "services:\n  s:\n"
        if key != "run" { yaml += "    run: [/bin/sleep, \"1\"]\n" }
        yaml += "    \(key): *a11\n"
        let found = problems(yaml)
        #expect(!found.isEmpty)
        #expect(found.count < 100, "one problem per key, not per expanded node")
    }

    /// The YAML library hashes every mapping key whole, so a key built of aliases of aliases was
    /// expanded into trillions of nodes there (found by the fuzzer twice: an alias key, then a key
    /// a lexical check misread). Any text whose aliases expand it past the bound is refused before
    /// it is composed, wherever the aliases stand, at the place the count passed the bound.
    @Test func aliasesThatExpandPastTheBoundAreRefusedBeforeComposing() throws {
        let bomb = aliasBomb()
        // `*a4` stands for 111,111 nodes: the tenth of them in `&a5` takes the count past 10^6.
        let place = "warden.yaml:6:\(bomb.split(separator: "\n")[5].utf8.count - 3):"
        let cases = [
            bomb + "services: { s: { env: [*a9: x] } }\n",
            bomb + "services:\n  *a10 : x\n",
            bomb + "services:\n  ? *a10\n  : x\n",
            bomb + "services: { s: { env: [*a10  s: x] } }\n",
            bomb + "services: { [*a9, *a9]: x }\n",
            // The fuzzer's: a quote inside a plain scalar (`x-"6`) hid what followed from a lexical check.
            bomb.replacingOccurrences(of: "x-a6:", with: "x-\"6:") + "x-a12: [*a9, *a9  s:\n    run: *a11\n",
        ]
        for yaml in cases {
            let found = problems(yaml)
            #expect(found.count == 1)
            #expect(found.first?.hasPrefix(place + " aliases expand this spec past 1000000 nodes") == true, "\(found)")
        }
        // A key counts like a value: the root holds 39 nodes once `*a` (11 nodes) is expanded twice.
        let small = "x: &a [x, x, x, x, x, x, x, x, x, x]\ny: { [*a, *a]: 1 }\n"
        #expect(YAMLExpansionGuard.excess(in: small, limit: 39) == nil)
        #expect(YAMLExpansionGuard.excess(in: small, limit: 38) == .init(line: 2, column: 18))
        // Values may be aliases; quotes and comments are text.
        let spec = try loader.parse(
            """
            stats: &often { every: 2s }
            services:
              s:
                run: [/bin/sleep, "1"]
                env: { A: "*a: b", B: '*b: c' }   # *c: d
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        #expect(spec.services.first?.env["A"] == "*a: b")
        #expect(spec.statsEvery == .seconds(2))
    }

    /// 16,000 services used to take 31 s to validate (a mapping lookup per service is a scan).
    /// The time limit of this suite catches a return to quadratic time; the speed itself is not
    /// what this test measures.
    @Test func twentyThousandServicesLoad() async throws {
        let loader = self.loader
        let spec = try await offThePool {
            var yaml = "services:\n"
            for i in 0..<20_000 {
                yaml += "  s\(i):\n    run: [/bin/sleep, \"100\"]\n"
                if i > 0 { yaml += "    after: [s\(i - 1)]\n" }
            }
            return try loader.parse(yaml, file: "warden.yaml", baseDir: "/tmp")
        }
        #expect(spec.services.count == 20_000)
    }
}
