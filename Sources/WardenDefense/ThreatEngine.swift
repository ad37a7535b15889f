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
/// Memory stays flat under an attack from many addresses: at most `maxAddresses` are tracked
/// (about 140 bytes each with the index, no allocation per address), the least recently seen
/// tenth is evicted (and counted) when the table is full, and the evidence lines live in one
/// ring shared by all addresses. Which addresses are evicted depends only on the signals fed in
/// (and their times), never on hashing: the same log gives the same result on every run.
public struct ThreatEngine: Sendable {
    /// 80 bytes (the fields are ordered so that nothing is padded but the end).
    struct Tracked: Sendable {
        /// Bucket levels of up to eight scenarios this address touched, by slot.
        var levels = SIMD8<Float>()
        /// The scenario index of each slot (0xFF: free).
        var slots = SIMD8<UInt8>(repeating: 0xFF)
        /// When it was last seen; the levels have leaked and the score decayed up to here.
        var time: Double
        /// The last eight scenarios that fired, one byte each, most recent in the low byte (+1).
        var fired: UInt64 = 0
        /// The sequence number of its latest line in the evidence ring (-1: none).
        var evidence: Int64 = -1
        var score: Float = 0
        /// When a gauge scenario last fired for this address (one per minute, all gauges).
        var gaugeFired: Float = -1e9
        /// 0: nothing reported; 1: reported as borderline; 2: reported at the threshold.
        var reported: UInt8 = 0

        var evidenceSeq: Int64? { evidence < 0 ? nil : evidence }
    }

    struct EvidenceLine: Sendable {
        var seq: Int64
        var address: IPAddress
        var line: String
        var previous: Int64?
    }

    public let threshold: Double
    public let halfLife: Double
    public let maxAddresses: Int
    /// Whether borderline addresses (half the threshold) are reported too (for the analyst).
    public var reportBorderline: Bool
    let scenarios: [ScenarioSpec]
    /// Scenario indexes by signal name.
    let bySignal: [String: [Int]]
    var table: AddressTable<Tracked>
    public private(set) var evictions = 0
    /// The times of the latest signals of window scenarios, by address and scenario index (at
    /// most `count - 1` each); dropped with the address.
    var windows: [IPAddress: [Int: [Double]]] = [:]
    /// Recent evidence lines of every address, newest overwriting oldest.
    var ring: [EvidenceLine?]
    var nextSeq: Int64 = 0

    public init(_ spec: DefenseSpec, reportBorderline: Bool = false, evidenceLines: Int = 8192) {
        threshold = spec.threshold
        halfLife = spec.halfLife.seconds
        maxAddresses = spec.maxAddresses
        self.reportBorderline = reportBorderline
        scenarios = Array(spec.scenarios.prefix(DefenseSpec.maxScenarios))
        var map: [String: [Int]] = [:]
        for (i, s) in scenarios.enumerated() {
            for signal in s.on { map[signal, default: []].append(i) }
        }
        bySignal = map
        ring = Array(repeating: nil, count: max(16, evidenceLines))
        table = AddressTable(reserving: min(maxAddresses, 1 << 16))
    }

    /// Addresses tracked now.
    public var tracked: Int { table.count }

    /// Feeds one signal; returns a threat when the address's score crosses a reporting level.
    @_optimize(speed)
    /// The longest time over which a scenario adds signals up (a bucket's capacity over its
    /// leak; a minute for gauges), at least the score's half-life: a signal older than this
    /// cannot help anything trigger now.
    public static func horizon(of spec: DefenseSpec) -> Double {
        var longest = spec.halfLife.seconds
        for s in spec.scenarios {
            switch s.kind {
            case .bucket(let capacity, let leak) where leak > 0: longest = max(longest, capacity / leak)
            case .window(_, let within): longest = max(longest, within)
            case .bucket, .gauge: longest = max(longest, 60)
            }
        }
        return longest
    }

    public mutating func observe(_ signal: DefenseSignal, now: Double) -> Threat? {
        guard let indexes = bySignal[signal.name] else { return nil }
        let p: Int
        if let existing = table.position(of: signal.address) {
            p = existing
        } else {
            if table.count >= maxAddresses { evictOldest() }
            p = table.append(signal.address, Tracked(time: now))
        }
        var t = table.values[p]
        // Leak every bucket and decay the score since it was last seen.
        let elapsed = max(0, now - t.time)
        if elapsed > 0 {
            for k in 0..<8 where t.slots[k] != 0xFF {
                if case .bucket(_, let leak) = scenarios[Int(t.slots[k])].kind {
                    t.levels[k] = max(0, t.levels[k] - Float(leak * elapsed))
                }
            }
            if t.score > 0 { t.score *= Float(Foundation.exp2(-elapsed / halfLife)) }
            t.time = now
        }
        // Decayed below a quarter of the threshold: what was reported is history, a new offence is news.
        if Double(t.score) < threshold / 4 { t.reported = 0 }
        var triggered = false
        var interesting = t.score > 0
        for i in indexes {
            let s = scenarios[i]
            var fired = false
            switch s.kind {
            case .bucket(let capacity, _):
                let k = Self.slot(for: i, in: &t)
                t.levels[k] += Float(signal.value)
                interesting = true
                // The capacity-th signal overflows it, unless some of the earlier ones leaked away.
                if Double(t.levels[k]) > capacity - 1 + 1e-6 {
                    fired = true
                    t.levels[k] = 0
                }
            case .window(let count, let within):
                interesting = true
                var times = windows[signal.address]?[i] ?? []
                times.removeAll { $0 <= now - within }
                times.append(now)
                if times.count >= count {
                    fired = true
                    times = []
                } else if times.count > count - 1 {
                    times.removeFirst(times.count - (count - 1))
                }
                windows[signal.address, default: [:]][i] = times.isEmpty ? nil : times
                if windows[signal.address]?.isEmpty == true { windows[signal.address] = nil }
            case .gauge(let above):
                if signal.value >= above && now - Double(t.gaugeFired) >= 60 {
                    fired = true
                    t.gaugeFired = Float(now)
                }
            }
            if fired {
                triggered = true
                t.score += Float(s.score)
                t.fired = t.fired << 8 | UInt64(i + 1)
            }
        }
        // Lines are kept for addresses that may matter: every signal of a bucketed scenario, or
        // of an address with a score (not, say, one concurrent connection of every client).
        if triggered || interesting {
            t.evidence = remember(signal.address, signal.evidence, previous: t.evidenceSeq)
        }
        var threat: Threat?
        let score = Double(t.score)
        if triggered {
            let level: UInt8 = score >= threshold ? 2 : (reportBorderline && score >= threshold / 2 ? 1 : 0)
            if level > t.reported {
                t.reported = level
                threat = Threat(
                    address: signal.address,
                    score: score,
                    scenarios: firedNames(t.fired),
                    evidence: lines(from: t.evidenceSeq, of: signal.address),
                    atThreshold: level == 2
                )
            }
        }
        table.values[p] = t
        return threat
    }

    /// The slot of scenario `i`: its own, a free one, or the lowest bucket's (which is lost).
    static func slot(for i: Int, in t: inout Tracked) -> Int {
        let index = UInt8(i)
        var free: Int?
        var lowest = 0
        for k in 0..<8 {
            if t.slots[k] == index { return k }
            if t.slots[k] == 0xFF { free = free ?? k }
            if t.levels[k] < t.levels[lowest] { lowest = k }
        }
        let k = free ?? lowest
        t.slots[k] = index
        t.levels[k] = 0
        return k
    }

    func firedNames(_ fired: UInt64) -> [String] {
        var names: [String] = []
        var f = fired
        while f != 0 {
            names.append(scenarios[Int(f & 0xFF) - 1].name)
            f >>= 8
        }
        return names.reversed()
    }

    mutating func remember(_ address: IPAddress, _ line: String, previous: Int64?) -> Int64 {
        let seq = nextSeq
        ring[Int(seq % Int64(ring.count))] = EvidenceLine(
            seq: seq,
            address: address,
            line: String(line.prefix(300)),
            previous: previous
        )
        nextSeq += 1
        return seq
    }

    /// The last lines of `address` still in the ring, oldest first (at most 10).
    func lines(from seq: Int64?, of address: IPAddress) -> [String] {
        var out: [String] = []
        var next = seq
        while let s = next, s >= nextSeq - Int64(ring.count), out.count < 10 {
            guard let e = ring[Int(s % Int64(ring.count))], e.seq == s, e.address == address else { break }
            out.append(e.line)
            next = e.previous
        }
        return out.reversed()
    }

    /// The current score of an address.
    public func score(of address: IPAddress, now: Double) -> Double {
        guard let t = table[address] else { return 0 }
        return Double(t.score) * Foundation.exp2(-max(0, now - t.time) / halfLife)
    }

    /// Whether the address is in the table now.
    func isTracked(_ address: IPAddress) -> Bool { table.position(of: address) != nil }

    /// Forgets an address (after a ban: its next offence starts from nothing).
    public mutating func forget(_ address: IPAddress) {
        table.remove(address)
        windows[address] = nil
    }

    /// Drops the least recently seen tenth of the table: the `count / 10` (at least one)
    /// addresses seen longest ago, and any seen at the same moment as the last of them. O(n) per
    /// pass, a pass per tenth of the table filled: constant time per address on average.
    mutating func evictOldest() {
        let count = table.count
        guard count > 0 else { return }
        let drop = max(1, count / 10)
        var times = table.values.map(\.time)
        let cut = kthSmallest(&times, drop - 1)
        times = []
        var p = count - 1
        while p >= 0 {
            if table.values[p].time <= cut { table.remove(at: p) }
            p -= 1
        }
        evictions += count - table.count
        if !windows.isEmpty { windows = windows.filter { table.position(of: $0.key) != nil } }
    }
}
