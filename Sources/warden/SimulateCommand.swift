import ArgumentParser
import CWardenSys
import Foundation
import Synchronization
import WardenCore
import WardenDetect
import WardenHTTP
import WardenSim

#if canImport(Glibc)
import Glibc
#endif

/// Posts simulated vitals to a running Warden.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Stream a simulated crew member's vitals, with faults, to a running Warden.",
        discussion: """
            Heart rate, SpO2, body temperature and respiration rate (series vitals.*) with realistic noise, \
            correlation and drift, posted to /v1/ingest. Faults: hypoxia, fever, tachycardia, dropout, stuck, crash. \
            With --link DIR the simulation is tied to a life-support service run as \
            `warden-sample --crash-when DIR/critical` whose rebuild creates DIR/repaired.
            """
    )

    @Option(help: "The Warden API to post to.") var to: String = "http://127.0.0.1:7070"
    @Option(help: "Bearer token (default: $WARDEN_TOKEN).") var token: String?
    @Option(help: "Simulated seconds per wall second.") var speed: Double = 60
    @Option(help: "Simulated seconds between readings.") var step: Double = 5
    @Option(help: "Faults to inject, in turn (comma-separated kinds, or 'all').") var faults: String = "all"
    @Option(help: "Simulated time before the first fault (lets the monitor learn what normal is).")
    var first: String = "30m"
    @Option(help: "Simulated time between faults.") var every: String = "20m"
    @Option(help: "Stop after this much simulated time (default: until interrupted).") var duration: String?
    @Option(help: "Random seed: the same seed gives the same vitals and faults.") var seed: UInt64 = 1
    @Option(help: "Marker directory tying the simulation to a life-support service.") var link: String?
    @Flag(help: "Do not post: run the demo's prediction loop over --hours simulated hours and score it.")
    var scorecard = false
    @Option(help: "Simulated hours for --scorecard.") var hours: Double = 24
    @Option(
        help: """
            Faults per simulated day, every kind in turn at random times (as --scorecard does; default 48 there); \
            needs --duration when posting.
            """
    )
    var faultsPerDay: Int?
    @Option(help: "Write each reading and event, with its simulated and wall time, to this file (JSON lines).")
    var record: String?
    @Flag(help: "With --scorecard: print JSON.") var json = false
    @Flag(
        help: """
            With --scorecard: fit the demo monitor's calibration (its evidence against a failure within \
            15 simulated minutes) over --seeds runs from --seed on, and print it as the spec's lines.
            """
    )
    var fitCalibration = false
    @Option(help: "With --fit-calibration: how many seeds (simulated runs of --hours each).") var seeds: Int = 10
    @Option(help: "With --fit-calibration: the most knots the calibration may have (2 to 64).") var knots: Int = 16

    func run() async throws {
        warden_stdout_line_buffered()
        if scorecard {
            guard hours > 0, hours <= 24 * 366, (faultsPerDay ?? 48) >= 0, (faultsPerDay ?? 48) <= 10_000 else {
                printError("warden: --hours must be above 0 and at most a year, --faults-per-day from 0 to 10000")
                throw ExitCode(1)
            }
            if fitCalibration {
                try fitDemoCalibration()
                return
            }
            let r = try Scorecard.run(hours: hours, seed: seed, speed: speed, faultsPerDay: faultsPerDay ?? 48)
            if json {
                let out: JSONValue = [
                    "hours": .double(r.hours), "gradual_faults": .int(Int64(r.gradual)),
                    "healed_before_crash": .int(Int64(r.healedBeforeCrash)),
                    "healed_percent": .double(r.healedPercent), "false_heals": .int(Int64(r.falseHeals)),
                    "false_heals_per_day": .double(r.falseHealsPerDay),
                    "median_lead_seconds": r.leadTimes.isEmpty ? .null : .double(r.medianLead),
                    "lead_seconds": .array(r.leadTimes.map { .double($0) }),
                    "brier": .double(r.brier), "base_rate": .double(r.baseRate),
                    "quiet_probability_p95": .double(r.quietP95),
                    "reliability": .array(
                        r.reliability.map {
                            [
                                "mean_probability": $0.meanProbability.isNaN ? .null : .double($0.meanProbability),
                                "observed": $0.observed.isNaN ? .null : .double($0.observed),
                                "count": .int(Int64($0.count)),
                            ]
                        }
                    ),
                    "faults": .object(
                        Dictionary(
                            uniqueKeysWithValues: r.faults.map { ($0.key.rawValue, JSONValue.int(Int64($0.value))) }
                        )
                    ),
                ]
                print(out.jsonText)
            } else {
                print("\(Int(r.hours)) simulated hours, \(r.faults.values.reduce(0, +)) faults")
                print(
                    String(
                        format: "healed before the crash: %d of %d gradual faults (%.1f %%)",
                        r.healedBeforeCrash,
                        r.gradual,
                        r.healedPercent
                    )
                )
                print(String(format: "false heals: %d (%.2f per simulated day)", r.falseHeals, r.falseHealsPerDay))
                print(String(format: "median lead time: %.0f simulated seconds", r.medianLead))
                print(
                    String(
                        format: "probability: Brier %.4f (base rate %.4f), p95 with no fault active %.3f",
                        r.brier,
                        r.baseRate,
                        r.quietP95
                    )
                )
                for (i, b) in r.reliability.enumerated() where b.count > 0 {
                    print(
                        String(
                            format: "  p in [%.1f, %.1f): %6d steps, mean p %.3f, failure within 15 min %.3f",
                            Double(i) / 10,
                            Double(i + 1) / 10,
                            b.count,
                            b.meanProbability,
                            b.observed
                        )
                    )
                }
            }
            return
        }
        guard let target = HTTPTarget.parse(to), !target.secure else {
            printError("warden: --to: found '\(to)'; expected an http:// URL such as http://127.0.0.1:7070")
            throw ExitCode(1)
        }
        guard speed > 0, speed <= 100_000, step > 0 else {
            printError("warden: --speed must be from 0 to 100000 and --step positive")
            throw ExitCode(1)
        }
        let kinds: [FaultKind]
        do { kinds = try Self.kinds(faults) } catch {
            printError("warden: --faults: \(error)")
            throw ExitCode(1)
        }
        guard let firstAt = DurationFormat.parse(first), let gap = DurationFormat.parse(every), gap > .zero else {
            printError("warden: --first and --every take durations such as 30m")
            throw ExitCode(1)
        }
        var options = SimulationRunner.Options()
        options.speed = speed
        options.step = step
        options.seed = seed
        options.link = link
        options.duration = duration.flatMap(DurationFormat.parse)?.seconds
        if let record {
            // Written as the run goes: a path that cannot be written is an error now, not a silent loss.
            guard FileManager.default.createFile(atPath: record, contents: nil) else {
                printError("warden: --record: cannot write \(record)")
                throw ExitCode(1)
            }
        }
        options.record = record
        if let perDay = faultsPerDay {
            guard let hours = options.duration.map({ $0 / 3600 }), hours > 0, hours <= 24 * 366, perDay >= 0,
                perDay <= 10_000
            else {
                printError(
                    "warden: --faults-per-day takes 0 to 10000 and needs --duration (at most a year), such as 24h"
                )
                throw ExitCode(1)
            }
            // The schedule `--scorecard` draws for the same seed and hours.
            options.schedule = VitalsSimulator.randomSchedule(
                seed: seed,
                hours: hours,
                count: Int(Double(perDay) * hours / 24),
                kinds: faults == "all" ? FaultKind.allCases : kinds,
                quiet: 3600
            )
        } else {
            options.schedule = Self.schedule(kinds: kinds, first: firstAt.seconds, every: gap.seconds, seed: seed)
        }
        let client = WardenAPIClient(
            host: target.host,
            port: target.port,
            token: token ?? ProcessInfo.processInfo.environment["WARDEN_TOKEN"]
        )
        let runner = Self.runner(options: options, client: client) { print($0) }
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT)
        source.setEventHandler { runner.stop() }
        source.resume()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread {
                runner.run()
                c.resume()
            }.start()
        }
    }

    struct BadKind: Error, CustomStringConvertible { var description: String }

    static func kinds(_ text: String) throws -> [FaultKind] {
        if text == "all" { return [.hypoxia, .tachycardia, .fever, .dropout, .crash, .stuck] }
        if text == "none" || text.isEmpty { return [] }
        return try text.split(separator: ",").map {
            guard let k = FaultKind(rawValue: String($0)) else {
                throw BadKind(
                    description:
                        "found '\($0)'; expected kinds among \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")), all or none"
                )
            }
            return k
        }
    }

    /// `--fit-calibration`: fits the demo monitor's calibration and prints it as the spec's lines.
    private func fitDemoCalibration() throws {
        guard (1...1000).contains(seeds), hours * Double(seeds) <= 24 * 366,
            (2...ProbabilityMap.maximumKnots).contains(knots)
        else {
            printError(
                "warden: --seeds must be from 1 to 1000, --seeds times --hours at most a year (a fit keeps every "
                    + "step: 6.3 million), --knots from 2 to 64"
            )
            throw ExitCode(1)
        }
        let list = (0..<seeds).map { seed &+ UInt64($0) }
        guard
            let fit = try Scorecard.fitCalibration(
                seeds: list,
                hours: hours,
                speed: speed,
                faultsPerDay: faultsPerDay ?? 48,
                knots: knots
            )
        else {
            printError("warden: no scored moment to fit a calibration to")
            throw ExitCode(1)
        }
        print("# fitted on \(fit.moments) moments, seeds \(seed) to \(list.last ?? seed), \(hours) hours each")
        print(String(format: "# Brier score: %.4f as the evidence, %.4f mapped", fit.brierBefore, fit.brierAfter))
        guard let lines = fit.specLines else {
            printError(
                "warden: the fitted map (\(fit.map.probability.first ?? 0) to \(fit.map.highest)) cannot carry a "
                    + "threshold at the evidence's 0.9 (\(fit.threshold)); fit more seeds or more knots"
            )
            throw ExitCode(1)
        }
        print(lines)
    }

    /// Faults in turn, one every `every` simulated seconds after `first`, for a simulated year.
    static func schedule(kinds: [FaultKind], first: Double, every: Double, seed: UInt64) -> [VitalsSimulator.Fault] {
        guard !kinds.isEmpty else { return [] }
        var rng = SplitMix64(seed: seed)
        let count = min(100_000, Int(365 * 86_400 / every))
        return (0..<count).map { i in
            let kind = kinds[i % kinds.count]
            return VitalsSimulator.Fault(
                kind: kind,
                start: first + Double(i) * every,
                length: VitalsSimulator.typicalLength(kind, &rng)
            )
        }
    }

    /// A runner that posts each reading to `client` (failures are reported, never fatal).
    static func runner(
        options: SimulationRunner.Options,
        client: WardenAPIClient,
        log: @escaping @Sendable (String) -> Void
    ) -> SimulationRunner {
        let failures = Atomic<Int>(0)
        return SimulationRunner(
            options,
            post: { reading, wall in
                let items = reading.samples.map {
                    "{\"series\":\"\($0.series)\",\"labels\":{\"crew\":\"a\"},\"t\":\(wall),\"v\":\($0.value)}"
                }
                guard !items.isEmpty else { return }
                let body = Data(("[" + items.joined(separator: ",") + "]").utf8)
                // The runner posts from a thread of its own, so it may wait for the answer.
                let ok = (try? client.sendWaiting("POST", "/v1/ingest", body: body))?.status == 200
                if !ok && failures.add(1, ordering: .relaxed).newValue % 100 == 1 {
                    log("warden simulate: posting to Warden failed; retrying with the next reading")
                }
            },
            log: log
        )
    }
}
