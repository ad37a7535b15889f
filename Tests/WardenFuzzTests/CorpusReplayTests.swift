import Foundation
import Testing
import WardenFuzzTargets

/// Every input of the committed fuzz corpus (`Fuzz/Corpus/<target>/`), and every input that once
/// crashed or broke a promise (`Fuzz/Crashes/<target>/`), through the fuzz targets: a regression
/// test for each, run in the normal debug build. The fuzzer itself runs in `scripts/fuzz`.
@Suite("Fuzz corpus replay", .timeLimit(.minutes(5)))
struct CorpusReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let dir = root.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func everyCorpusInputRunsClean(target: String) throws {
        let run = try #require(FuzzTargets.named(target))
        let corpus = Self.inputs("Corpus", target)
        #expect(corpus.count >= 5, "the corpus of \(target) is missing (\(Self.root.path))")
        for file in corpus + Self.inputs("Crashes", target) {
            run(Array(try Data(contentsOf: file)))
        }
    }

    /// The reproducers of the hardening pass are in the crash corpus, where they stay.
    @Test func theKnownCrashersAreKept() {
        #expect(Self.inputs("Crashes", "json-ingest").count >= 1)
        #expect(Self.inputs("Crashes", "influx").count >= 1)
        #expect(Self.inputs("Crashes", "prometheus").count >= 1)
        #expect(Self.inputs("Crashes", "token").count >= 1)
    }
}
