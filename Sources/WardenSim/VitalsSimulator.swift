import Foundation
import WardenCore

/// What can go wrong aboard.
public enum FaultKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// SpO₂ slides down over minutes; life support fails when it passes 85 %.
    case hypoxia
    /// Body temperature climbs; life support fails past 39.5 °C.
    case fever
    /// Heart-rate episodes of a minute or two; nothing fails.
    case tachycardia
    /// A sensor stops reporting for a few minutes; nothing fails.
    case dropout
    /// A sensor repeats its last value for a while; nothing fails.
    case stuck
    /// Life support fails at once, with no warning in the vitals.
    case crash

    /// Whether the fault ends in a failure unless healed first (and gives warning before it).
    public var isGradual: Bool { self == .hypoxia || self == .fever }
    /// Whether the life-support service fails because of it.
    public var fails: Bool { isGradual || self == .crash }
}

/// One reading of the four vitals at a simulated time; nil for a sensor that is not reporting.
public struct VitalsReading: Sendable, Hashable {
    public var time: Double
    public var heartRate: Double?
    public var spo2: Double?
    public var temperature: Double?
    public var respiration: Double?

    /// The readings as (series, value) pairs, under Warden's names.
    public var samples: [(series: String, value: Double)] {
        var out: [(String, Double)] = []
        if let heartRate { out.append(("vitals.heart_rate", heartRate)) }
        if let spo2 { out.append(("vitals.spo2", spo2)) }
        if let temperature { out.append(("vitals.temperature", temperature)) }
        if let respiration { out.append(("vitals.respiration", respiration)) }
        return out
    }
}

/// What happened during a step.
public enum SimEvent: Sendable, Hashable {
    case faultStarted(FaultKind)
    /// The fault reached its critical point: life support fails now.
    case critical(FaultKind)
    case faultEnded(FaultKind, healed: Bool)
}

/// A crew member's vitals with realistic noise, correlation and slow (circadian) drift, and
/// faults on a schedule. Deterministic for a seed; time is simulated seconds, advanced by the
/// caller (so a simulated day runs as fast as the caller likes).
public struct VitalsSimulator: Sendable {
    public struct Fault: Sendable, Hashable {
        public var kind: FaultKind
        /// When it starts (simulated seconds).
        public var start: Double
        /// How long its development (or episode) lasts, in simulated seconds.
        public var length: Double
        public init(kind: FaultKind, start: Double, length: Double) {
            self.kind = kind
            self.start = start
            self.length = length
        }

        /// When a gradual fault reaches its critical point (where its mean crosses the line; the
        /// noise moves it by seconds); the start for any other kind.
        public var criticalTime: Double {
            switch kind {
            case .hypoxia: return start + (12.6 / 14).squareRoot() * length
            case .fever: return start + (2.7 / 3.2) * length
            default: return start
            }
        }

        /// Whether, at simulated time `t`, this fault is a failure on its way within `horizon`
        /// seconds (a gradual fault whose critical point lies ahead by at most that).
        public func failureComing(at t: Double, within horizon: Double) -> Bool {
            kind.isGradual && criticalTime >= t && criticalTime - t <= horizon
        }
    }

    var rng: SplitMix64
    public private(set) var time: Double = 0
    /// Faults still to come, soonest first.
    public private(set) var schedule: [Fault]
    /// The fault in progress, and when it began.
    public private(set) var active: Fault?
    var criticalReported = false
    // Slow state: AR(1) deviations around the baseline.
    var hrDev = 0.0
    var spo2Dev = 0.0
    var tempDev = 0.0
    var respDev = 0.0
    var stuckValue: Double?
    var recovering: (kind: FaultKind, from: Double, level: Double)?

    public init(seed: UInt64, faults: [Fault] = []) {
        rng = SplitMix64(seed: seed)
        schedule = faults.sorted { $0.start < $1.start }
    }

    /// A random schedule over `hours` simulated hours: `count` faults of the given kinds, spread
    /// out, none in the first `quiet` seconds (the monitor's training).
    public static func randomSchedule(
        seed: UInt64,
        hours: Double,
        count: Int,
        kinds: [FaultKind] = FaultKind.allCases,
        quiet: Double = 1800
    ) -> [Fault] {
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        let span = hours * 3600 - quiet - 3600
        let gap = span / Double(max(1, count))
        return (0..<count).map { i in
            let kind = kinds[i % kinds.count]
            let start = quiet + Double(i) * gap + rng.nextUnit() * gap * 0.5
            return Fault(kind: kind, start: start, length: Self.typicalLength(kind, &rng))
        }
    }

    public static func typicalLength(_ kind: FaultKind, _ rng: inout SplitMix64) -> Double {
        switch kind {
        case .hypoxia: return 480 + rng.nextUnit() * 480  // 8 to 16 minutes to the critical point
        case .fever: return 900 + rng.nextUnit() * 900
        case .tachycardia: return 45 + rng.nextUnit() * 75
        case .dropout: return 60 + rng.nextUnit() * 240
        case .stuck: return 300 + rng.nextUnit() * 600
        case .crash: return 0
        }
    }

    /// Ends the active gradual fault: the life support was rebuilt in time; vitals recover.
    public mutating func repair() -> SimEvent? {
        guard let f = active else { return nil }
        active = nil
        criticalReported = false
        stuckValue = nil
        if f.kind == .hypoxia || f.kind == .fever {
            recovering = (f.kind, time, progress(f))
        }
        return .faultEnded(f.kind, healed: true)
    }

    /// How far the active fault has developed, 0 to 1.
    func progress(_ f: Fault) -> Double {
        guard f.length > 0 else { return 1 }
        return min(1, max(0, (time - f.start) / f.length))
    }

    /// Advances by `dt` simulated seconds; returns the reading at the new time and what happened.
    public mutating func step(_ dt: Double) -> (VitalsReading, [SimEvent]) {
        time += dt
        var events: [SimEvent] = []
        if active == nil, let next = schedule.first, next.start <= time {
            schedule.removeFirst()
            active = next
            criticalReported = false
            events.append(.faultStarted(next.kind))
        }
        // AR(1) noise: mean-reverting, correlated over tens of seconds.
        func ar(_ x: Double, _ tau: Double, _ sigma: Double, _ noise: Double) -> Double {
            let a = exp(-dt / tau)
            return a * x + sigma * sqrt(1 - a * a) * noise
        }
        hrDev = ar(hrDev, 30, 3, gaussian())
        spo2Dev = ar(spo2Dev, 30, 0.5, gaussian())
        tempDev = ar(tempDev, 120, 0.08, gaussian())
        respDev = ar(respDev, 20, 0.8, gaussian())
        let circadian = sin(2 * .pi * time / 86_400)
        var spo2 = 97.6 + spo2Dev + 0.2 * circadian
        var temp = 36.8 + tempDev + 0.08 * circadian
        var hr = 68 + hrDev + 2 * circadian
        var resp = 14 + respDev
        var dropped = false
        if let f = active {
            let p = progress(f)
            switch f.kind {
            case .hypoxia:
                spo2 -= 14 * p * p
            case .fever:
                temp += 3.2 * p
            case .tachycardia:
                hr += 55 * sin(.pi * p)
            case .dropout:
                dropped = true
            case .stuck:
                if stuckValue == nil { stuckValue = (hr * 10).rounded() / 10 }
                hr = stuckValue!
            case .crash:
                break
            }
            let critical: Bool
            switch f.kind {
            case .hypoxia: critical = spo2 < 85 || p >= 1
            case .fever: critical = temp > 39.5 || p >= 1
            case .crash: critical = true
            default: critical = false
            }
            if critical && !criticalReported && f.kind.fails {
                criticalReported = true
                events.append(.critical(f.kind))
                if f.kind == .crash {
                    active = nil
                    events.append(.faultEnded(.crash, healed: false))
                }
            }
            if !f.kind.fails && p >= 1 {
                active = nil
                stuckValue = nil
                events.append(.faultEnded(f.kind, healed: false))
            }
        }
        // After a repair the vitals come back over a few minutes.
        if let r = recovering {
            let left = max(0, 1 - (time - r.from) / 180)
            switch r.kind {
            case .hypoxia: spo2 -= 14 * r.level * r.level * left
            case .fever: temp += 3.2 * r.level * left
            default: break
            }
            if left == 0 { recovering = nil }
        }
        // Correlation: the body answers low oxygen and fever with a faster heart and breath.
        let deficit = max(0, 95 - spo2)
        let fever = max(0, temp - 37.2)
        hr += 1.8 * deficit + 9 * fever
        resp += 0.6 * deficit + 2 * fever
        let reading = VitalsReading(
            time: time,
            heartRate: dropped ? nil : hr,
            spo2: dropped ? nil : min(100, spo2),
            temperature: dropped ? nil : temp,
            respiration: dropped ? nil : resp
        )
        return (reading, events)
    }

    mutating func gaussian() -> Double {
        // Box–Muller.
        let u1 = max(1e-12, rng.nextUnit())
        let u2 = rng.nextUnit()
        return sqrt(-2 * log(u1)) * cos(2 * .pi * u2)
    }
}
