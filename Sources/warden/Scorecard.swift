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
        /// The monitor's probability against what followed, summed as the steps go (a run of any
        /// length holds the same few numbers): per tenth of probability, the probabilities, the
        /// steps followed by a failure within the horizon, and the steps; the squared misses.
        var binProbability = [Double](repeating: 0, count: 10)
        var binFailures = [Int](repeating: 0, count: 10)
        var binSteps = [Int](repeating: 0, count: 10)
        var squaredMisses = 0.0
        /// The probability at steps with no fault active, in thousandths (a histogram).
        var quiet = [Int](repeating: 0, count: 1001)
        /// Each step's evidence and whether a failure was coming (kept with `moments: true` only).
        var evidence: [Double] = []
        var followed: [Bool] = []

        /// Records one step: the probability shown, and whether a failure was coming within the
        /// horizon then (a gradual fault active whose critical point lies ahead by at most it).
        mutating func forecast(_ probability: Double, failureComing: Bool, faultActive: Bool) {
            let bin = min(9, max(0, Int(probability * 10)))
            binProbability[bin] += probability
            binFailures[bin] += failureComing ? 1 : 0
            binSteps[bin] += 1
            let miss = probability - (failureComing ? 1 : 0)
            squaredMisses += miss * miss
            if !faultActive { quiet[min(1000, max(0, Int((probability * 1000).rounded())))] += 1 }
        }

        var steps: Int { binSteps.reduce(0, +) }

        /// The mean squared difference between the probability and what happened (0 is perfect;
        /// always saying the base rate scores `rate · (1 − rate)`).
        var brier: Double { steps == 0 ? .nan : squaredMisses / Double(steps) }

        /// The share of steps with a failure coming.
        var baseRate: Double { steps == 0 ? .nan : Double(binFailures.reduce(0, +)) / Double(steps) }

        /// Ten bins of probability: the mean probability in each, the share of its steps followed
        /// by a failure within the horizon, and how many steps (the reliability diagram's points).
        var reliability: [(meanProbability: Double, observed: Double, count: Int)] {
            (0..<10).map { b in
                let n = Double(binSteps[b])
                return (
                    binSteps[b] == 0 ? .nan : binProbability[b] / n,
                    binSteps[b] == 0 ? .nan : Double(binFailures[b]) / n,
                    binSteps[b]
                )
            }
        }

        /// The 95th percentile of the probability while no fault is active (to a thousandth).
        var quietP95: Double {
            let total = quiet.reduce(0, +)
            guard total > 0 else { return .nan }
            var seen = 0
            for (i, n) in quiet.enumerated() {
                seen += n
                if Double(seen) > 0.95 * Double(total) { return Double(i) / 1000 }
            }
            return 1
        }

        var healedPercent: Double { gradual == 0 ? 0 : Double(healedBeforeCrash) / Double(gradual) * 100 }
        var falseHealsPerDay: Double { Double(falseHeals) / (hours / 24) }
        var medianLead: Double {
            let s = leadTimes.sorted()
            return s.isEmpty ? .nan : s[s.count / 2]
        }
    }

    /// - Parameters:
    ///   - horizon: how far ahead (simulated seconds) a failure counts as coming, for the
    ///     probability's calibration.
    ///   - evidenceThreshold: with it, the monitor runs without the demo's `calibration:`, shows
    ///     its evidence and alerts at this evidence (the demo's own threshold is that of its
    ///     calibrated probability); each step's evidence and outcome are kept in the result, to
    ///     fit a calibration to.
    static func run(
        hours: Double,
        seed: UInt64,
        speed: Double,
        faultsPerDay: Int,
        horizon: Double = 900,
        evidenceThreshold: Double? = nil
    ) throws -> Result {
        let specText = DemoCommand.spec(
            dir: "/tmp/warden-scorecard",
            port: 7070,
            sample: "/bin/sleep",
            firewall: "dry-run",
            speed: speed
        )
        let spec = try SpecLoader.warden().parse(specText, file: "demo.yaml", baseDir: "/tmp")
        let monitorSpec = spec.monitors[0]
        var configuration = try MonitorService.configuration(monitorSpec)
        if let evidenceThreshold {
            configuration.calibration = nil
            configuration.threshold = evidenceThreshold
        }
        var monitor = try Monitor(configuration: configuration)
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
        let joinWindow = monitorSpec.holdFor.seconds * speed + 180
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
            let now = origin.addingTimeInterval(reading.time / speed)
            let outcome = try monitor.observe([hr, spo2, temp, resp], at: now)
            if let probability = outcome.score?.probability {
                let coming = sim.active?.failureComing(at: sim.time, within: horizon) ?? false
                result.forecast(probability, failureComing: coming, faultActive: sim.active != nil)
                if evidenceThreshold != nil, let evidence = outcome.score?.evidence {
                    result.evidence.append(evidence)
                    result.followed.append(coming)
                }
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
            monitor.healed()
            if let f = sim.active, f.kind.isGradual {
                result.healedBeforeCrash += 1
                result.leadTimes.append(f.criticalTime - sim.time)
                _ = sim.repair()
            } else {
                result.falseHeals += 1
            }
        }
        return result
    }
}
