import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// `warden detect` and `warden nab`, run as a user would, against committed reference numbers.
@Suite("warden detect and nab", .timeLimit(.minutes(3)))
struct PredictionCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("WardenDetectTests/Fixtures")

    struct SVMFixture: Decodable {
        struct Fitted: Decodable { var gamma: Double }
        var train: [[Double]]
        var test: [[Double]]
        var decision: [Double]
        var fitted: Fitted
    }

    static func csv(_ rows: [[Double]], header: String) -> String {
        header + "\n" + rows.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// The decision values `warden detect --decision` prints are scikit-learn's.
    @Test func detectPrintsScikitLearnsDecisionValues() async throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("ocsvm/vitals3d-raw.json"))
        let fixture = try JSONDecoder().decode(SVMFixture.self, from: data)
        let dir = TempDir("warden-detect")
        dir.write("train.csv", Self.csv(fixture.train, header: "hr,spo2,temp"))
        dir.write("test.csv", Self.csv(fixture.test, header: "hr,spo2,temp"))
        let result = try await runCommand(
            Binaries.warden,
            [
                "detect", "--model", "one-class-svm", "--train", dir.file("train.csv"), "--nu", "0.05", "--gamma",
                "scale", "--tol", "0.001", "--no-standardize", "--decision", dir.file("test.csv"),
            ]
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        let values = result.stdout.split(separator: "\n").compactMap { Double($0) }
        #expect(values.count == fixture.test.count)
        for (mine, theirs) in zip(values, fixture.decision) {
            #expect(abs(mine - theirs) <= 1e-6 * abs(theirs))
        }
    }

    @Test func detectExplainsBadInput() async throws {
        let dir = TempDir("warden-detect")
        dir.write("bad.csv", "a,b\n1,2\n3,x\n")
        let result = try await runCommand(Binaries.warden, ["detect", "--model", "robust", dir.file("bad.csv")])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("bad.csv:3: column 'b' holds 'x', not a number"))
    }

    /// Values near the largest Double are numbers like any other: every streaming model scores
    /// them, and the readings after them, in [0, 1] (the context view and the ensemble used to
    /// trap on a range wider than the largest Double).
    @Test func detectScoresValuesNearTheLargestDouble() async throws {
        let dir = TempDir("warden-detect")
        var text = "timestamp,value\n"
        for i in 0..<300 {
            let value = (100..<104).contains(i) ? (i % 2 == 0 ? "1.7e308" : "-1.7e308") : "\(20 + i % 5)"
            text += "2020-01-01 \(i / 60 < 10 ? "0" : "")\(i / 60):\(i % 60 < 10 ? "0" : "")\(i % 60):00,\(value)\n"
        }
        dir.write("huge.csv", text)
        for kind in ["gaussian", "robust", "ewma", "context", "seasonal", "shift", "likelihood", "ensemble"] {
            let result = try await runCommand(Binaries.warden, ["detect", "--model", kind, dir.file("huge.csv")])
            #expect(result.exitCode == 0, "\(kind): \(result.stderr.suffix(300))")
            let scores = result.stdout.split(separator: "\n").compactMap { Double($0) }
            #expect(scores.count == 300, "\(kind)")
            #expect(
                scores.allSatisfy { $0 >= 0 && $0 <= 1 },
                "\(kind): \(scores.filter { !($0 >= 0 && $0 <= 1) }.prefix(3))"
            )
        }
    }

    /// `nab run` writes one results file per series with NAB's columns; `nab score` reads them back.
    @Test func nabRunWritesResultsThatNabScoreReads() async throws {
        let dir = TempDir("warden-nab")
        var text = "timestamp,value\n"
        for i in 0..<2000 {
            let minute = i % 60
            let hour = (i / 60) % 24
            let day = 1 + i / 1440
            let value = i == 1500 ? 100.0 : Double(i % 7)
            text += "2020-01-0\(day) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute):00,\(value)\n"
        }
        Self.put(dir, "data/synthetic/spike.csv", text)
        dir.write(
            "labels.json",
            #"{"synthetic/spike.csv": [["2020-01-02 00:50:00.000000", "2020-01-02 01:30:00.000000"]]}"#
        )
        let run = try await runCommand(
            Binaries.warden,
            [
                "nab", "run", "--data", dir.file("data"), "--labels", dir.file("labels.json"), "--detector", "ensemble",
                "--out", dir.file("results"),
            ]
        )
        #expect(run.exitCode == 0, "\(run.stderr)")
        let results = try String(
            contentsOfFile: dir.file("results/ensemble/synthetic/ensemble_spike.csv"),
            encoding: .utf8
        )
        let lines = results.split(separator: "\n")
        #expect(lines.first == "timestamp,value,anomaly_score,label")
        #expect(lines.count == 2001)
        #expect(lines[1501].hasPrefix("2020-01-02 01:00:00,100,"))
        #expect(lines[1501].hasSuffix(",1"))  // inside the window
        let score = try await runCommand(
            Binaries.warden,
            ["nab", "score", "--results", dir.file("results"), "--labels", dir.file("labels.json")]
        )
        #expect(score.exitCode == 0)
        // One window, found on the spike (a little before its middle), and nothing else.
        #expect(score.stdout.contains("ensemble"))
        #expect(run.stdout.split(separator: "\n").last == score.stdout.split(separator: "\n").last)
    }

    /// `nab run --stress`: each category held out in turn is scored on stressed copies of its series
    /// at the threshold chosen on the other's clean ones; bursts cost false positives there.
    @Test func nabRunStressesTheHeldOutCategory() async throws {
        let dir = TempDir("warden-nab-stress")
        var labels: [String] = []
        for (category, spike) in [("alpha", 1500), ("beta", 1700)] {
            var text = "timestamp,value\n"
            for i in 0..<2000 {
                let minute = i % 60
                let hour = (i / 60) % 24
                let day = 1 + i / 1440
                let value = i == spike ? 100.0 : Double(i % 7)
                text +=
                    "2020-01-0\(day) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute):00,\(value)\n"
            }
            Self.put(dir, "data/\(category)/spike.csv", text)
            let at = spike - 1440
            let (h0, m0) = ((at - 20) / 60, (at - 20) % 60)
            let (h1, m1) = ((at + 20) / 60, (at + 20) % 60)
            func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            labels.append(
                #""\#(category)/spike.csv": [["2020-01-02 \#(two(h0)):\#(two(m0)):00.000000", "2020-01-02 \#(two(h1)):\#(two(m1)):00.000000"]]"#
            )
        }
        dir.write("labels.json", "{" + labels.joined(separator: ", ") + "}")
        let run = try await runCommand(
            Binaries.warden,
            [
                "nab", "run", "--data", dir.file("data"), "--labels", dir.file("labels.json"), "--detector", "ensemble",
                "--stress", "--cross-validate",
            ]
        )
        #expect(run.exitCode == 0, "\(run.stderr)")
        let blocks = run.stdout.components(separatedBy: "leave one category out")
        #expect(blocks.count == 3, "\(run.stdout)")  // stressed, then clean
        let stressed = blocks[1].split(separator: "\n").map { String($0) }
        let rows = stressed.filter { $0.hasPrefix("trend") || $0.hasPrefix("bursts") || $0.hasPrefix("quantised") }
        #expect(rows.count == 10, "\(stressed)")
        func standard(_ line: String?) -> Double? {
            line?.split(separator: " ").compactMap { Double($0) }.first
        }
        let clean = standard(blocks[2].split(separator: "\n").map(String.init).last { $0.hasPrefix("mean") })
        let burst = standard(rows.first { $0.hasPrefix("bursts 1/150 seed 1") })
        let cleanMean = try #require(clean, "\(blocks[2])")
        let burstMean = try #require(burst, "\(rows)")
        #expect(cleanMean > 20, "both spikes found (mid-window) at the threshold chosen on the other category")
        #expect(burstMean < cleanMean, "bursts every 150 rows cost false positives")
        #expect(stressed.last { $0.hasPrefix("mean") } != nil)
    }

    /// `nab score` on CAD OSE's published results (committed in compact form) prints NAB's numbers.
    @Test func nabScoreReproducesCADOSE() async throws {
        struct Compact: Decodable {
            struct Series: Decodable {
                var name: String
                var rows: Int
                var start: Int64
                var steps: [[Int64]]
                var scores: [[Double]]
            }
            var series: [Series]
        }
        let compact = try JSONDecoder().decode(
            Compact.self,
            from: Data(contentsOf: Self.fixtures.appendingPathComponent("nab/contextOSE-compact.json"))
        )
        let dir = TempDir("warden-nab")
        for s in compact.series {
            var times = [s.start]
            for step in s.steps { for _ in 0..<step[1] { times.append(times.last! + step[0]) } }
            var scores = [Double](repeating: 0, count: s.rows)
            for pair in s.scores { scores[Int(pair[0])] = pair[1] }
            let parts = s.name.split(separator: "/")
            var text = "timestamp,anomaly_score\n"
            var flat = text
            for (t, v) in zip(times, scores) {
                text += "\(Self.format(t)),\(v)\n"
                flat += "\(Self.format(t)),0.5\n"
            }
            Self.put(dir, "results/contextOSE/\(parts[0])/contextOSE_\(parts[1])", text)
            Self.put(dir, "flat/contextOSE/\(parts[0])/contextOSE_\(parts[1])", text)
            Self.put(dir, "flat/null/\(parts[0])/null_\(parts[1])", flat)
        }
        let result = try await runCommand(
            Binaries.warden,
            [
                "nab", "score", "--results", dir.file("results"), "--labels",
                Self.fixtures.appendingPathComponent("nab/combined_windows.json").path,
            ]
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        let fields = result.stdout.split(separator: "\n").last?.split(separator: " ").map(String.init) ?? []
        #expect(fields == ["contextOSE", "34", "77.16", "74.90", "79.80"])
        // Left out one category at a time, each scored at the threshold the other four chose.
        let cv = try await runCommand(
            Binaries.warden,
            [
                "nab", "score", "--cross-validate", "--results", dir.file("results"), "--labels",
                Self.fixtures.appendingPathComponent("nab/combined_windows.json").path,
            ]
        )
        #expect(cv.exitCode == 0, "\(cv.stderr)")
        let lines = cv.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(
            lines.filter { $0.first?.hasPrefix("real") == true || $0.first?.hasPrefix("artificial") == true }.count == 5
        )
        #expect(lines.first { $0.first == "realTraffic" }?[3...5] == ["84.07", "81.32", "87.00"])
        #expect(lines.last?.suffix(3) == ["75.89", "73.00", "78.64"], "the mean of the four categories with windows")
        // Two detectors: each fold also chooses the detector on the other four categories.
        let both = try await runCommand(
            Binaries.warden,
            [
                "nab", "score", "--cross-validate", "--results", dir.file("flat"), "--labels",
                Self.fixtures.appendingPathComponent("nab/combined_windows.json").path,
            ]
        )
        #expect(both.exitCode == 0, "\(both.stderr)")
        let blocks = both.stdout.components(separatedBy: "the detector chosen on the other categories too")
        #expect(blocks.count == 2, "\(both.stdout)")
        let chosen = (blocks.last ?? "").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let folds = chosen.filter { $0.first?.hasPrefix("real") == true || $0.first?.hasPrefix("artificial") == true }
        #expect(folds.count == 5 && folds.allSatisfy { $0.suffix(2).first == "contextOSE" }, "\(folds)")
        #expect(chosen.last?.suffix(3) == ["75.89", "73.00", "78.64"])
        #expect(both.stdout.contains("leave one category out: null"))
    }

    /// `simulate --scorecard` scores the demo's prediction and how far its probability can be
    /// taken at its word: Brier score against the base rate, a reliability table, the probability
    /// while no fault is active.
    @Test func theScorecardReportsHowCalibratedTheProbabilityIs() async throws {
        let card = try await Self.scorecard(hours: 6, seed: 3)
        let gradual = try #require(card["gradual_faults"]?.intValue)
        let healed = try #require(card["healed_before_crash"]?.intValue)
        #expect(gradual > 0 && healed <= gradual)
        let brier = try #require(card["brier"]?.doubleValue)
        let rate = try #require(card["base_rate"]?.doubleValue)
        #expect(brier >= 0 && brier <= 1 && rate > 0 && rate < 0.5)
        let bins = try #require(card["reliability"]?.arrayValue)
        #expect(bins.count == 10)
        let steps = bins.compactMap { $0["count"]?.intValue }.reduce(0, +)
        // 6 simulated hours in steps of 5 s, less the monitor's training and the sensors' gaps.
        #expect(steps > 6 * 720 / 2 && steps <= 6 * 720, "\(steps) scored steps")
        for bin in bins where (bin["count"]?.intValue ?? 0) > 0 {
            let observed = try #require(bin["observed"]?.doubleValue)
            #expect(observed >= 0 && observed <= 1)
        }
        // The share of failures over all bins is the base rate.
        var failures = 0.0
        for bin in bins {
            let observed = bin["observed"]?.doubleValue ?? 0
            let count = Double(bin["count"]?.intValue ?? 0)
            failures += observed * count
        }
        #expect(abs(failures / Double(steps) - rate) < 1e-9)
        let quiet = try #require(card["quiet_probability_p95"]?.doubleValue)
        #expect(quiet >= 0 && quiet <= 1)
    }

    /// The demo's `calibration:` was fitted on seeds 101 to 110; on three days it never saw the
    /// probability means what it says: per tenth, the share of moments followed by a failure within
    /// 15 minutes is close to the mean probability shown, in the middle range too (the evidence
    /// alone, shown 0.2 to 0.8, was followed by a failure about 15 % of the time), and the Brier
    /// score beats always saying the base rate.
    @Test func theDemosCalibrationHoldsOnDaysItWasNotFittedOn() async throws {
        let card = try await Self.scorecard(hours: 72, seed: 21)
        let bins = try #require(card["reliability"]?.arrayValue)
        var steps = 0.0
        var gap = 0.0
        var middle = (steps: 0.0, shown: 0.0, followed: 0.0)
        for (i, bin) in bins.enumerated() {
            let n = Double(bin["count"]?.intValue ?? 0)
            guard n > 0 else { continue }
            let shown = try #require(bin["mean_probability"]?.doubleValue) * n
            let followed = try #require(bin["observed"]?.doubleValue) * n
            steps += n
            gap += abs(shown - followed)
            if (2..<8).contains(i) { middle = (middle.steps + n, middle.shown + shown, middle.followed + followed) }
        }
        #expect(gap / steps < 0.02, "expected calibration error \(gap / steps)")
        #expect(middle.steps > 200)
        #expect(
            abs(middle.shown - middle.followed) / middle.steps < 0.08,
            "0.2 to 0.8: shown \(middle.shown / middle.steps), followed \(middle.followed / middle.steps)"
        )
        let brier = try #require(card["brier"]?.doubleValue)
        let rate = try #require(card["base_rate"]?.doubleValue)
        #expect(brier < rate * (1 - rate) * 0.8, "Brier \(brier), base rate \(rate)")
        #expect(card["healed_percent"]?.doubleValue == 100 && card["false_heals"]?.intValue == 0)
    }

    /// `--fit-calibration` fits the demo monitor's evidence to what followed it and prints the
    /// spec's lines: a map that a spec takes, with no more knots than asked, a threshold it can
    /// reach, and a Brier score better than the evidence's over the days it was fitted on.
    @Test func fittingACalibrationPrintsTheSpecsLines() async throws {
        let r = try await runCommand(
            Binaries.warden,
            [
                "simulate", "--scorecard", "--fit-calibration", "--seed", "101", "--seeds", "2", "--hours", "12",
                "--knots", "6",
            ]
        )
        #expect(r.exitCode == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let scores = try #require(lines.first { $0.hasPrefix("# Brier score:") })
        let numbers = scores.split(separator: " ").compactMap {
            Double($0.trimmingCharacters(in: .punctuationCharacters))
        }
        #expect(numbers.count == 2 && numbers[1] < numbers[0], "\(scores)")
        let calibration = try #require(lines.first { $0.hasPrefix("calibration: ") })
        let knots = try #require(JSONValue.parse(String(calibration.dropFirst(13)))?.arrayValue, "\(calibration)")
        let pairs = knots.compactMap { pair in pair.arrayValue?.compactMap { $0.doubleValue } }
        #expect(pairs.count == knots.count && pairs.count >= 2 && pairs.count <= 6, "\(calibration)")
        let threshold = try #require(lines.first { $0.hasPrefix("threshold: ") }.flatMap { Double($0.dropFirst(11)) })
        #expect(threshold > pairs[0][1] && threshold <= pairs[pairs.count - 1][1], "\(threshold) in \(calibration)")
        // The lines are a monitor's, as printed.
        let dir = TempDir()
        dir.write(
            "fitted.yaml",
            """
            services:
              api:
                run: [/bin/true]
            monitors:
              m:
                series: [cpu]
            \(lines.filter { !$0.hasPrefix("#") }.map { "    " + $0 }.joined(separator: "\n"))

            """
        )
        let valid = try await runCommand(Binaries.warden, ["validate", dir.file("fitted.yaml")])
        #expect(valid.exitCode == 0, "\(valid.stdout)\(valid.stderr)")
        let bad = try await runCommand(
            Binaries.warden,
            ["simulate", "--scorecard", "--fit-calibration", "--knots", "65"]
        )
        #expect(bad.exitCode == 1 && bad.stderr.contains("--knots from 2 to 64"))
        let long = try await runCommand(
            Binaries.warden,
            ["simulate", "--scorecard", "--fit-calibration", "--seeds", "400", "--hours", "24"]
        )
        #expect(long.exitCode == 1 && long.stderr.contains("--seeds times --hours at most a year"))
    }

    /// `warden simulate --scorecard --json` over `hours` simulated hours of `seed`.
    static func scorecard(hours: Int, seed: Int) async throws -> JSONValue {
        let r = try await runCommand(
            Binaries.warden,
            ["simulate", "--scorecard", "--hours", "\(hours)", "--seed", "\(seed)", "--json"]
        )
        #expect(r.exitCode == 0, "\(r.stderr)")
        return try #require(JSONValue.parse(r.stdout), "\(r.stdout)")
    }

    /// Writes a file under `dir`, creating its directories.
    static func put(_ dir: TempDir, _ name: String, _ text: String) {
        let path = dir.file(name)
        try! FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        dir.write(name, text)
    }

    /// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch.
    static func format(_ seconds: Int64) -> String {
        let days = seconds / 86_400
        let rest = seconds % 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d)) \(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))"
    }
}
