import Foundation
import WardenCore

/// An address whose threat score crossed a level: what the defense acts on.
public struct Threat: Sendable, Hashable {
    public var address: IPAddress
    public var score: Double
    /// The scenarios that triggered, most recent last (at most 8).
    public var scenarios: [String]
    /// What was seen last (a log line, a connection count).
    public var evidence: [String]
    /// True when the score reached the ban threshold; false for a borderline address (half of
    /// it) that an analyst may look at.
    public var atThreshold: Bool

    public init(address: IPAddress, score: Double, scenarios: [String], evidence: [String], atThreshold: Bool) {
        self.address = address
        self.score = score
        self.scenarios = scenarios
        self.evidence = evidence
        self.atThreshold = atThreshold
    }
}

/// Scores addresses from signals: leaky buckets and gauges per scenario, a decaying threat score
/// per address, and a bounded table of addresses. Pure: the caller gives the time (seconds on
/// any monotonic scale).
///
/// Memory stays flat under an attack from many addresses: at most `maxAddresses` are tracked,
/// and the least recently seen tenth is evicted (and counted) when the table is full.
public struct ThreatEngine: Sendable {
    struct Tracked: Sendable {
        var levels = SIMD16<Float>()
        /// When a gauge scenario last fired for this address (one per minute, all gauges).
        var gaugeFired: Double = -1e9
        var levelTime: Double
        var score: Double = 0
        var scoreTime: Double
        var lastSeen: Double
        /// 0: nothing reported; 1: reported as borderline; 2: reported at the threshold.
        var reported: UInt8 = 0
        var scenarios: [UInt8] = []
        var evidence: [String] = []
    }

    public let threshold: Double
    public let halfLife: Double
    public let maxAddresses: Int
    /// Whether borderline addresses (half the threshold) are reported too (for the analyst).
    public var reportBorderline: Bool
    let scenarios: [ScenarioSpec]
    /// Scenario indexes by signal name.
    let bySignal: [String: [Int]]
    var table: [IPAddress: Tracked] = [:]
    public private(set) var evictions = 0

    public init(_ spec: DefenseSpec, reportBorderline: Bool = false) {
        threshold = spec.threshold
        halfLife = spec.halfLife.seconds
        maxAddresses = spec.maxAddresses
        self.reportBorderline = reportBorderline
        scenarios = Array(spec.scenarios.prefix(16))
        var map: [String: [Int]] = [:]
        for (i, s) in scenarios.enumerated() {
            for signal in s.on { map[signal, default: []].append(i) }
        }
        bySignal = map
        table.reserveCapacity(min(maxAddresses, 1 << 16))
    }

    /// Addresses tracked now.
    public var tracked: Int { table.count }

    /// Feeds one signal; returns a threat when the address's score crosses a reporting level.
    public mutating func observe(_ signal: DefenseSignal, now: Double) -> Threat? {
        guard let indexes = bySignal[signal.name] else { return nil }
        var t: Tracked
        if let existing = table[signal.address] {
            t = existing
        } else {
            if table.count >= maxAddresses { evictOldest() }
            t = Tracked(levelTime: now, scoreTime: now, lastSeen: now)
        }
        t.lastSeen = now
        // Leak every bucket since the last signal.
        let elapsed = Float(max(0, now - t.levelTime))
        if elapsed > 0 {
            for (i, s) in scenarios.enumerated() {
                if case .bucket(_, let leak) = s.kind { t.levels[i] = max(0, t.levels[i] - Float(leak) * elapsed) }
            }
            t.levelTime = now
        }
        var triggered = false
        var interesting = false
        for i in indexes {
            let s = scenarios[i]
            var fired = false
            switch s.kind {
            case .bucket(let capacity, _):
                t.levels[i] += Float(signal.value)
                // From the second signal on, an address is worth remembering lines for.
                if t.levels[i] > Float(signal.value) { interesting = true }
                // The capacity-th signal overflows it, unless some of the earlier ones leaked away.
                if Double(t.levels[i]) > capacity - 1 + 1e-6 {
                    fired = true
                    t.levels[i] = 0
                }
            case .gauge(let above):
                if signal.value >= above && now - t.gaugeFired >= 60 {
                    fired = true
                    t.gaugeFired = now
                }
            }
            if fired {
                triggered = true
                t.score = decayed(t, now) + s.score
                t.scoreTime = now
                t.scenarios.append(UInt8(i))
                if t.scenarios.count > 8 { t.scenarios.removeFirst() }
            }
        }
        // Keep the last few lines of evidence of addresses that are getting interesting (not of
        // every address seen once: memory stays small under a spread-out attack).
        if triggered || interesting || t.score > 0 {
            t.evidence.append(String(signal.evidence.prefix(300)))
            if t.evidence.count > 5 { t.evidence.removeFirst() }
        }
        var threat: Threat?
        let score = decayed(t, now)
        if score < threshold / 4 && t.reported > 0 { t.reported = 0 }
        if triggered {
            let level: UInt8 = score >= threshold ? 2 : (reportBorderline && score >= threshold / 2 ? 1 : 0)
            if level > t.reported {
                t.reported = level
                threat = Threat(
                    address: signal.address,
                    score: score,
                    scenarios: t.scenarios.map { scenarios[Int($0)].name },
                    evidence: t.evidence,
                    atThreshold: level == 2
                )
            }
        }
        table[signal.address] = t
        return threat
    }

    /// The current score of an address.
    public func score(of address: IPAddress, now: Double) -> Double {
        table[address].map { decayed($0, now) } ?? 0
    }

    /// Forgets an address (after a ban: its next offence starts from nothing).
    public mutating func forget(_ address: IPAddress) { table[address] = nil }

    func decayed(_ t: Tracked, _ now: Double) -> Double {
        guard t.score > 0 else { return 0 }
        return t.score * Double.exp2(-(max(0, now - t.scoreTime)) / halfLife)
    }

    /// Drops the least recently seen tenth of the table.
    mutating func evictOldest() {
        let count = table.count
        let drop = max(1, count / 10)
        // The cut-off from a sample of last-seen times: O(n) per eviction pass.
        var sample: [Double] = []
        sample.reserveCapacity(1024)
        var k = 0
        let stride = max(1, count / 1024)
        for (_, t) in table {
            if k % stride == 0 { sample.append(t.lastSeen) }
            k += 1
        }
        sample.sort()
        let cut = sample[min(sample.count - 1, max(0, sample.count * drop / count))]
        let before = table.count
        table = table.filter { $0.value.lastSeen > cut }
        if table.count == before, let oldest = table.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
            table[oldest.key] = nil
        }
        evictions += before - table.count
    }
}

extension Double {
    static func exp2(_ x: Double) -> Double { Foundation.exp2(x) }
}
