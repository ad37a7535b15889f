import Foundation
import WardenCore
import WardenDetect
import WardenSim

/// The demo's prediction loop over many simulated hours, without waiting for them: the vitals
/// simulator, the demo's own monitor (same model, training, threshold and hold time, fed the same
/// sample times the demo feeds it at its speed), and a rebuild at each alert.
struct Scorecard {
    struct Result {
        var hours: Double
        var gradual = 0
        var healedBeforeCrash = 0
        var crashedFirst = 0
        var falseHeals = 0
        var leadTimes: [Double] = []
        var faults: [FaultKind: Int] = [:]
        /// The monitor's probability at each step, and whether a failure was coming within the
        /// horizon then (a gradual fault active whose critical point lies ahead by at most it).
        var forecasts: [(probability: Double, failureComing: Bool)] = []
        /// The probability at the steps with no fault active.
        var quiet: [Double] = []

        /// The mean squared difference between the probability and what happened (0 is perfect;
        /// always saying the base rate scores `rate · (1 − rate)`).
        var brier: Double {
            guard !forecasts.isEmpty else { return .nan }
            var sum = 0.0
            for f in forecasts {
                let miss = f.probability - (f.failureComing ? 1 : 0)
                sum += miss * miss
            }
            return sum / Double(forecasts.count)
        }

        /// The share of steps with a failure coming.
        var baseRate: Double {
            forecasts.isEmpty ? .nan : Double(forecasts.filter(\.failureComing).count) / Double(forecasts.count)
        }

        /// Ten bins of probability: the mean probability in each, the share of its steps followed
        /// by a failure within the horizon, and how many steps (the reliability diagram's points).
        var reliability: [(meanProbability: Double, observed: Double, count: Int)] {
            var probabilities = [Double](repeating: 0, count: 10)
            var failures = [Int](repeating: 0, count: 10)
            var counts = [Int](repeating: 0, count: 10)
            for f in forecasts {
                let bin = min(9, max(0, Int(f.probability * 10)))
                probabilities[bin] += f.probability
                failures[bin] += f.failureComing ? 1 : 0
                counts[bin] += 1
            }
            return (0..<10).map { b in
                let n = Double(counts[b])
                return (
                    counts[b] == 0 ? .nan : probabilities[b] / n, counts[b] == 0 ? .nan : Double(failures[b]) / n,
                    counts[b]
                )
            }
        }

        /// The 95th percentile of the probability while no fault is active.
        var quietP95: Double {
            let s = quiet.sorted()
            return s.isEmpty ? .nan : s[min(s.count - 1, Int(0.95 * Double(s.count)))]
        }

        var healedPercent: Double { gradual == 0 ? 0 : Double(healedBeforeCrash) / Double(gradual) * 100 }
        var falseHealsPerDay: Double { Double(falseHeals) / (hours / 24) }
        var medianLead: Double {
            let s = leadTimes.sorted()
            return s.isEmpty ? .nan : s[s.count / 2]
        }
    }

    /// The simulated time a gradual fault reaches its critical point (where its mean crosses the
    /// line; the noise moves it by seconds).
    static func criticalTime(_ f: VitalsSimulator.Fault) -> Double {
        switch f.kind {
        case .hypoxia: return f.start + (12.6 / 14).squareRoot() * f.length
        case .fever: return f.start + (2.7 / 3.2) * f.length
        default: return f.start
        }
    }

    /// - Parameter horizon: how far ahead (simulated seconds) a failure counts as coming, for the
    ///   probability's calibration.
    static func run(
        hours: Double,
        seed: UInt64,
        speed: Double,
        faultsPerDay: Int,
        horizon: Double = 900
    ) throws -> Result {
        let specText = DemoCommand.spec(
            dir: "/tmp/warden-scorecard",
            port: 7070,
            sample: "/bin/sleep",
            firewall: "dry-run"
        )
        let spec = try SpecLoader.warden().parse(specText, file: "demo.yaml", baseDir: "/tmp")
        let monitorSpec = spec.monitors[0]
        var monitor = try Monitor(configuration: MonitorService.configuration(monitorSpec))
        let schedule = VitalsSimulator.randomSchedule(
            seed: seed,
            hours: hours,
            count: Int(Double(faultsPerDay) * hours / 24),
            quiet: 3600
        )
        var sim = VitalsSimulator(seed: seed, faults: schedule)
        var result = Result(hours: hours)
        for f in schedule { result.faults[f.kind, default: 0] += 1 }
        result.gradual = schedule.filter { $0.kind.isGradual }.count
        let step = 5.0
        let origin = Date(timeIntervalSince1970: 1_800_000_000)
        var lastHeal = -1e9
        let trace = ProcessInfo.processInfo.environment["WARDEN_SCORECARD_TRACE"] != nil
        // An alert while the last heal's incident is still open (it waits `settle`) joins it.
        let joinWindow = monitorSpec.holdFor.seconds * speed + 3 * speed
        while sim.time < hours * 3600 {
            let (reading, events) = sim.step(step)
            for e in events {
                if case .critical(let k) = e, k.isGradual {
                    // Life support failed: the crash loop is healed after the fact (the service's
                    // own heal ladder rebuilds it); the fault counts as not healed in time.
                    result.crashedFirst += 1
                    _ = sim.repair()
                    lastHeal = sim.time
                }
            }
            guard let hr = reading.heartRate, let spo2 = reading.spo2, let temp = reading.temperature,
                let resp = reading.respiration
            else { continue }
            let outcome = try monitor.observe(
                [hr, spo2, temp, resp],
                at: origin.addingTimeInterval(reading.time / speed)
            )
            if let probability = outcome.score?.probability {
                let coming =
                    sim.active.map { f in
                        f.kind.isGradual && criticalTime(f) >= sim.time && criticalTime(f) - sim.time <= horizon
                    } ?? false
                result.forecasts.append((probability, coming))
                if sim.active == nil { result.quiet.append(probability) }
            }
            if trace {
                switch outcome {
                case .alert(let sc):
                    print("t=\(Int(sim.time)) ALERT p=\(sc.probability) active=\(sim.active?.kind.rawValue ?? "-")")
                case .cleared(let sc): print("t=\(Int(sim.time)) cleared p=\(sc.probability)")
                default: break
                }
                for e in events { print("t=\(Int(sim.time)) \(e)") }
            }
            guard case .alert = outcome, sim.time - lastHeal > joinWindow else { continue }
            lastHeal = sim.time
            if let f = sim.active, f.kind.isGradual {
                result.healedBeforeCrash += 1
                result.leadTimes.append(criticalTime(f) - sim.time)
                _ = sim.repair()
            } else {
                result.falseHeals += 1
            }
        }
        return result
    }
}
