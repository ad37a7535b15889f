import Testing
import WardenCore
import WardenDefense
import WardenTestSupport

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
}
