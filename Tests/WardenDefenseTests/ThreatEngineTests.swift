import Foundation
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenDefense

@Suite("Threat scenarios")
struct ThreatEngineTests {
    let attacker = IPAddress("203.0.113.5")!

    func failure(_ a: IPAddress) -> DefenseSignal {
        DefenseSignal(address: a, name: "ssh.auth_failure", evidence: "Failed password for root from \(a)")
    }

    @Test func theFifthFailureWithinTheWindowIsAThreat() {
        var e = ThreatEngine(DefenseSpec())
        for i in 0..<4 { #expect(e.observe(failure(attacker), now: Double(i)) == nil) }
        let t = e.observe(failure(attacker), now: 4)
        #expect(t?.atThreshold == true)
        #expect(t?.scenarios == ["ssh-bruteforce"])
        #expect(t?.evidence.count == 5, "every line is evidence")
        #expect(t?.evidence.first?.hasPrefix("Failed password") == true)
        #expect((t?.score ?? 0) >= 1)
    }

    @Test func slowFailuresLeakAway() {
        var e = ThreatEngine(DefenseSpec())
        // One failure every three minutes: the 5/10m bucket leaks faster than it fills.
        for i in 0..<50 { #expect(e.observe(failure(attacker), now: Double(i) * 180) == nil) }
    }

    @Test func theScoreDecaysAndTwoHalfThreatsAddUp() {
        var spec = DefenseSpec()
        spec.scenarios = [
            ScenarioSpec(
                name: "probe",
                on: ["ssh.preauth"],
                kind: .bucket(capacity: 2, leakPerSecond: 0.001),
                score: 0.6
            )
        ]
        var e = ThreatEngine(spec)
        let probe = DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x")
        _ = e.observe(probe, now: 0)
        #expect(e.observe(probe, now: 1) == nil, "0.6 is below the threshold")
        #expect(abs(e.score(of: attacker, now: 601) - 0.3) < 0.01, "half-life 10 minutes")
        _ = e.observe(probe, now: 2)
        let t = e.observe(probe, now: 3)
        #expect(t?.atThreshold == true, "0.6 + 0.6 crosses 1.0")
    }

    @Test func gaugesFireAtMostOnceAMinute() {
        var spec = DefenseSpec()
        spec.threshold = 1.9
        var e = ThreatEngine(spec)
        let many = DefenseSignal(address: attacker, name: "conn.concurrent", value: 80, evidence: "80 open")
        #expect(e.observe(many, now: 0) == nil)
        #expect(e.observe(many, now: 30) == nil)
        #expect(abs(e.score(of: attacker, now: 30) - 0.966) < 0.01, "fired once")
        #expect(e.observe(many, now: 61)?.atThreshold == true)
        let few = DefenseSignal(address: IPAddress("198.51.100.1")!, name: "conn.concurrent", value: 3, evidence: "")
        #expect(e.observe(few, now: 0) == nil)
        #expect(e.score(of: few.address, now: 0) == 0)
    }

    @Test func borderlineAddressesAreReportedForTheAnalyst() {
        var spec = DefenseSpec()
        spec.scenarios = [
            ScenarioSpec(name: "probe", on: ["ssh.preauth"], kind: .bucket(capacity: 1, leakPerSecond: 0), score: 0.6)
        ]
        var e = ThreatEngine(spec, reportBorderline: true)
        let t = e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 0)
        #expect(t?.atThreshold == false)
        let u = e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 1)
        #expect(u?.atThreshold == true, "reported again at the threshold")
    }

    @Test func memoryIsBoundedUnderAnAttackFromManyAddresses() async throws {
        var limited = DefenseSpec()
        limited.maxAddresses = 1000
        let spec = limited
        let failure = self.failure
        var e = try await offThePool {
            var e = ThreatEngine(spec)
            var rng = SplitMix64(seed: 7)
            for i in 0..<100_000 {
                let a = IPAddress.v4(UInt32(truncatingIfNeeded: rng.next()))
                _ = e.observe(failure(a), now: Double(i) / 100)
            }
            return e
        }
        #expect(e.tracked <= 1000)
        #expect(e.evictions >= 99_000)
        // A persistent attacker among them is still caught.
        var last: Threat?
        for i in 0..<5 { last = e.observe(failure(attacker), now: 1000 + Double(i)) }
        #expect(last?.address == attacker)
        #expect(last?.atThreshold == true, "the fifth failure crosses the threshold despite the churn")
        #expect(e.tracked <= 1000)
    }

    func spec(_ scenarios: ScenarioSpec...) -> DefenseSpec {
        var spec = DefenseSpec()
        spec.scenarios = scenarios
        return spec
    }

    /// An engine with one scenario that fires with `score` at the first `ssh.preauth` signal.
    func oneSignal(score: Double, reportBorderline: Bool) -> ThreatEngine {
        ThreatEngine(
            spec(
                ScenarioSpec(
                    name: "one",
                    on: ["ssh.preauth"],
                    kind: .bucket(capacity: 1, leakPerSecond: 0),
                    score: score
                )
            ),
            reportBorderline: reportBorderline
        )
    }

    /// Signals at one instant fill a bucket without any leak in between.
    @Test func signalsAtTheSameInstantDoNotLeak() {
        var e = ThreatEngine(
            spec(
                ScenarioSpec(name: "burst", on: ["ssh.preauth"], kind: .bucket(capacity: 3, leakPerSecond: 1), score: 1)
            )
        )
        let s = DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x")
        #expect(e.observe(s, now: 5) == nil)
        #expect(e.observe(s, now: 5) == nil)
        #expect(e.observe(s, now: 5)?.atThreshold == true, "three at once overflow a bucket of three")
        // One per second leaks as fast as it fills.
        let b = IPAddress("198.51.100.7")!
        for i in 0..<10 {
            #expect(e.observe(DefenseSignal(address: b, name: "ssh.preauth", evidence: "y"), now: Double(i)) == nil)
        }
    }

    /// A gauge fires at its bound, not only above it, and again after exactly a minute.
    @Test func aGaugeFiresAtItsBoundAndAgainAfterAMinute() {
        var e = ThreatEngine(
            spec(ScenarioSpec(name: "hog", on: ["conn.concurrent"], kind: .gauge(above: 50), score: 1))
        )
        let other = IPAddress("198.51.100.9")!
        #expect(
            e.observe(DefenseSignal(address: other, name: "conn.concurrent", value: 49, evidence: ""), now: 0) == nil
        )
        #expect(e.score(of: other, now: 0) == 0)
        let at = DefenseSignal(address: attacker, name: "conn.concurrent", value: 50, evidence: "50 open")
        #expect(e.observe(at, now: 0)?.atThreshold == true, "a score of exactly the threshold is a threat")
        _ = e.observe(at, now: 59.5)
        #expect(abs(e.score(of: attacker, now: 59.5) - exp2(-59.5 / 600)) < 1e-4, "not again within the minute")
        _ = e.observe(at, now: 60)
        #expect(abs(e.score(of: attacker, now: 60) - (1 + exp2(-60 / 600))) < 1e-4, "again after a minute")
    }

    /// One offence is one report: more failures while the score is high say nothing new; once
    /// the score has decayed below a quarter of the threshold, a new offence is reported again.
    @Test func anOffenceIsReportedOnceUntilItsScoreHasDecayed() {
        var e = ThreatEngine(DefenseSpec())
        for i in 0..<4 { _ = e.observe(failure(attacker), now: Double(i)) }
        #expect(e.observe(failure(attacker), now: 4)?.atThreshold == true)
        for i in 5..<15 { #expect(e.observe(failure(attacker), now: Double(i)) == nil, "failure \(i + 1)") }
        #expect(e.score(of: attacker, now: 15) > 2.9, "the bucket fired twice more")
        // Four half-lives (of ten minutes) later the score (about 3) is below a quarter of the threshold.
        let later = 15 + 4 * 600.0
        #expect(e.score(of: attacker, now: later) < 0.25)
        for i in 0..<4 { #expect(e.observe(failure(attacker), now: later + Double(i)) == nil) }
        #expect(e.observe(failure(attacker), now: later + 4)?.atThreshold == true, "a new offence")
    }

    /// Borderline is exactly half the threshold and up.
    @Test func borderlineStartsAtExactlyHalfTheThreshold() {
        var e = oneSignal(score: 0.5, reportBorderline: true)
        let t = e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 0)
        #expect(t?.atThreshold == false)
        #expect(t?.score == 0.5)
        var quiet = oneSignal(score: 0.5, reportBorderline: false)
        #expect(quiet.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 0) == nil)
    }

    /// Evidence is the lines that matter: a signal that fills no bucket and finds no score (one
    /// connection below a gauge's bound) is not kept.
    @Test func evidenceIsOnlyTheLinesThatMatter() {
        var e = ThreatEngine(DefenseSpec())
        _ = e.observe(DefenseSignal(address: attacker, name: "conn.concurrent", value: 3, evidence: "3 open"), now: 0)
        var last: Threat?
        for i in 0..<5 { last = e.observe(failure(attacker), now: 1 + Double(i)) }
        #expect(last?.evidence.count == 5)
        #expect(last?.evidence.contains("3 open") == false)
    }

    /// Below half the threshold nothing is reported, even for the analyst.
    @Test func belowHalfTheThresholdIsNotBorderline() {
        var e = oneSignal(score: 0.4, reportBorderline: true)
        #expect(e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 0) == nil)
        #expect(e.score(of: attacker, now: 0) > 0.39, "it fired")
    }

    /// Each scenario an address touches keeps its own bucket: interleaved signals of two
    /// scenarios fill both.
    @Test func interleavedScenariosKeepTheirOwnBuckets() {
        var e = ThreatEngine(
            spec(
                ScenarioSpec(name: "a", on: ["ssh.preauth"], kind: .bucket(capacity: 3, leakPerSecond: 0), score: 1),
                ScenarioSpec(
                    name: "b",
                    on: ["ssh.invalid_user"],
                    kind: .bucket(capacity: 3, leakPerSecond: 0),
                    score: 1
                )
            )
        )
        let a = DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "a")
        let b = DefenseSignal(address: attacker, name: "ssh.invalid_user", evidence: "b")
        #expect(e.observe(a, now: 0) == nil)
        #expect(e.observe(b, now: 1) == nil)
        #expect(e.observe(a, now: 2) == nil)
        #expect(e.observe(b, now: 3) == nil)
        #expect(e.observe(a, now: 4)?.scenarios == ["a"])
    }

    /// The engine numbers scenarios in a byte: beyond the most a spec may have, none is used
    /// (the spec loader refuses such a spec; this is the engine's own guard).
    @Test func scenariosBeyondTheLimitAreNotUsed() {
        var many = (0..<DefenseSpec.maxScenarios).map {
            ScenarioSpec(
                name: "s\($0)",
                on: ["ssh.auth_failure"],
                kind: .bucket(capacity: 100, leakPerSecond: 0),
                score: 1
            )
        }
        many.append(
            ScenarioSpec(name: "last", on: ["ssh.preauth"], kind: .bucket(capacity: 1, leakPerSecond: 0), score: 1)
        )
        var spec = DefenseSpec()
        spec.scenarios = many
        var e = ThreatEngine(spec)
        #expect(e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x"), now: 0) == nil)
        #expect(e.score(of: attacker, now: 0) == 0)
    }

    /// A borderline report is one too: once the score has decayed below a quarter of the
    /// threshold (0.125 after two half-lives, or about 0.22 after 710 s, below a quarter and above
    /// a fifth), the next borderline offence is reported again.
    @Test(arguments: [1200.0, 710.0])
    func aBorderlineReportIsRenewedAfterTheScoreDecays(later: Double) {
        var e = oneSignal(score: 0.5, reportBorderline: true)
        let s = DefenseSignal(address: attacker, name: "ssh.preauth", evidence: "x")
        #expect(e.observe(s, now: 0)?.atThreshold == false)
        #expect(e.observe(s, now: later)?.atThreshold == false)
    }

    /// Evidence is bounded: the last ten lines of an address, each cut at 300 characters.
    @Test func evidenceIsTheLastTenLinesEachCutShort() {
        var e = ThreatEngine(
            spec(
                ScenarioSpec(name: "slow", on: ["ssh.preauth"], kind: .bucket(capacity: 12, leakPerSecond: 0), score: 1)
            )
        )
        var last: Threat?
        for i in 0..<12 {
            let text = "line \(i) " + String(repeating: "x", count: 400)
            last = e.observe(DefenseSignal(address: attacker, name: "ssh.preauth", evidence: text), now: Double(i))
        }
        let evidence = last?.evidence ?? []
        #expect(evidence.count == 10)
        #expect(evidence.first?.hasPrefix("line 2 ") == true, "the oldest two are left out")
        #expect(evidence.allSatisfy { $0.count == 300 })
    }

    /// With twenty addresses a tenth is two: exactly the two seen longest ago go.
    @Test func aFullTableOfTwentyForgetsTwo() {
        var limited = DefenseSpec()
        limited.maxAddresses = 20
        var e = ThreatEngine(limited)
        for i in 0..<21 { _ = e.observe(failure(IPAddress.v4(0xC633_6400 + UInt32(i))), now: Double(i)) }
        #expect(e.evictions == 2)
        #expect(e.tracked == 19)
    }

    /// Which addresses a full table forgets depends on when they were seen, not on the order
    /// they came in nor on hashing: fed the same addresses and times in two different orders,
    /// two tables forget the same ones, exactly the tenth seen longest ago.
    @Test func evictionDependsOnlyOnWhenAddressesWereSeen() {
        var limited = DefenseSpec()
        limited.maxAddresses = 1000
        var rng = SplitMix64(seed: 11)
        // 1,000 addresses, each with a distinct time; then one more, which makes room.
        var seen = (0..<1000).map { (IPAddress.v4(0x0A00_0000 + UInt32($0)), Double($0)) }
        seen.shuffle(using: &rng)
        var shuffledAgain = seen
        shuffledAgain.shuffle(using: &rng)
        var results: [Set<IPAddress>] = []
        for order in [seen, shuffledAgain] {
            var e = ThreatEngine(limited)
            for (a, t) in order { _ = e.observe(failure(a), now: t) }
            _ = e.observe(failure(attacker), now: 5000)
            #expect(e.evictions == 100)
            #expect(e.tracked == 901)
            results.append(Set(order.map(\.0).filter { e.isTracked($0) }))
        }
        #expect(results[0] == results[1])
        let expected = Set((100..<1000).map { IPAddress.v4(0x0A00_0000 + UInt32($0)) })
        #expect(results[0] == expected, "the hundred seen first are the ones forgotten")
    }

    /// The selection behind eviction agrees with sorting, with runs of equal values too.
    @Test func theKthSmallestAgreesWithSorting() {
        var rng = SplitMix64(seed: 5)
        for size in [1, 2, 3, 10, 1000, 5000] {
            for distinct in [1, 3, size] {
                let values = (0..<size).map { _ in Double(Int(rng.next() % UInt64(distinct))) }
                let sorted = values.sorted()
                for k in Set([0, size / 10, size / 2, size - 1]) {
                    var scratch = values
                    #expect(kthSmallest(&scratch, k) == sorted[k], "size \(size), \(distinct) distinct, k \(k)")
                }
            }
        }
    }

    /// A full table forgets its least recently seen addresses: with ten, the oldest one.
    @Test func aFullTableForgetsTheAddressSeenLongestAgo() {
        var limited = DefenseSpec()
        limited.maxAddresses = 10
        var e = ThreatEngine(limited)
        let addresses = (0..<11).map { IPAddress.v4(0xC633_6400 + UInt32($0)) }  // 198.51.100.0...
        for i in 0..<10 { _ = e.observe(failure(addresses[i]), now: Double(i)) }
        #expect(e.evictions == 0)
        #expect(e.tracked == 10)
        _ = e.observe(failure(addresses[10]), now: 10)
        #expect(e.evictions == 1, "a tenth of ten")
        #expect(e.tracked == 10)
        // addresses[1] is remembered: four more failures make five.
        var last: Threat?
        for i in 0..<4 { last = e.observe(failure(addresses[1]), now: 11 + Double(i)) }
        #expect(last?.atThreshold == true)
        // addresses[0] was forgotten: four more failures are only four.
        for i in 0..<4 { #expect(e.observe(failure(addresses[0]), now: 15 + Double(i)) == nil) }
        #expect(e.evictions == 2)
        // A table of one still works.
        var one = DefenseSpec()
        one.maxAddresses = 1
        var tiny = ThreatEngine(one)
        _ = tiny.observe(failure(addresses[0]), now: 0)
        _ = tiny.observe(failure(addresses[1]), now: 1)
        #expect(tiny.tracked == 1)
        #expect(tiny.evictions == 1)
    }

    /// The evidence ring keeps exactly its last lines, of every address: an address's lines that
    /// were overwritten are gone, never replaced by another address's.
    @Test func theEvidenceRingKeepsExactlyItsLastLines() {
        let others = (0..<16).map { IPAddress.v4(0xC633_6400 + UInt32($0)) }
        func run(between: Int) -> [String]? {
            var e = ThreatEngine(DefenseSpec(), evidenceLines: 16)
            _ = e.observe(DefenseSignal(address: attacker, name: "ssh.auth_failure", evidence: "A0"), now: 0)
            for i in 0..<between { _ = e.observe(failure(others[i]), now: 0) }
            var last: Threat?
            for i in 1...4 {
                last = e.observe(DefenseSignal(address: attacker, name: "ssh.auth_failure", evidence: "A\(i)"), now: 0)
            }
            return last?.evidence
        }
        #expect(run(between: 11) == ["A0", "A1", "A2", "A3", "A4"], "sixteen lines fit")
        #expect(run(between: 12) == ["A1", "A2", "A3", "A4"], "the seventeenth overwrites the first")
    }

    /// fail2ban's count: the third failure within 600 s triggers; a steady scanner whose every
    /// 600 s holds only two never does, whatever the number of its attempts; forgetting an
    /// address forgets its count.
    @Test func aWindowCountsAsFail2banDoes() {
        var spec = DefenseSpec()
        spec.scenarios = [ScenarioSpec(name: "jail", on: ["f2b.x"], kind: .window(count: 3, within: 600), score: 1)]
        func run(_ times: [Double], _ address: String = "203.0.113.70") -> [Double] {
            var e = ThreatEngine(spec)
            let a = IPAddress(address)!
            var fired: [Double] = []
            for t in times {
                if let threat = e.observe(DefenseSignal(address: a, name: "f2b.x", evidence: ""), now: t),
                    threat.atThreshold
                {
                    fired.append(t)
                    e.forget(a)
                }
            }
            return fired
        }
        #expect(run([0, 300, 599]) == [599])
        #expect(run([0, 300, 600]).isEmpty, "the first is 600 s old at the third: outside")
        #expect(run(stride(from: 0.0, through: 6000, by: 301).map { $0 }).isEmpty, "two in every 600 s")
        #expect(run(stride(from: 0.0, through: 6000, by: 299).map { $0 }) == [598, 1495, 2392, 3289, 4186, 5083, 5980])
        #expect(run([0, 10, 20, 30, 40, 50]) == [20, 50], "after a trigger the count starts afresh")
        var e = ThreatEngine(spec)
        let a = IPAddress("203.0.113.71")!
        _ = e.observe(DefenseSignal(address: a, name: "f2b.x", evidence: ""), now: 0)
        _ = e.observe(DefenseSignal(address: a, name: "f2b.x", evidence: ""), now: 1)
        e.forget(a)
        #expect(e.observe(DefenseSignal(address: a, name: "f2b.x", evidence: ""), now: 2) == nil)
    }
}
