import Foundation
import Testing
import WardenSim

@Suite("Vitals simulator")
struct SimulatorTests {
    func run(_ sim: inout VitalsSimulator, for seconds: Double, step: Double = 5) -> [(VitalsReading, [SimEvent])] {
        var out: [(VitalsReading, [SimEvent])] = []
        let steps = Int(seconds / step)
        for _ in 0..<steps { out.append(sim.step(step)) }
        return out
    }

    @Test func theSameSeedGivesTheSameCrew() {
        var a = VitalsSimulator(seed: 42)
        var b = VitalsSimulator(seed: 42)
        var c = VitalsSimulator(seed: 43)
        let ra = run(&a, for: 3600).map(\.0)
        #expect(ra == run(&b, for: 3600).map(\.0))
        #expect(ra != run(&c, for: 3600).map(\.0))
    }

    @Test func normalVitalsStayInTheNormalRanges() throws {
        var sim = VitalsSimulator(seed: 1)
        let readings = run(&sim, for: 86_400).map(\.0)
        let spo2 = readings.compactMap(\.spo2)
        let hr = readings.compactMap(\.heartRate)
        let temp = readings.compactMap(\.temperature)
        #expect(spo2.allSatisfy { $0 > 94 && $0 <= 100 })
        #expect(hr.allSatisfy { $0 > 50 && $0 < 90 })
        #expect(temp.allSatisfy { $0 > 36.2 && $0 < 37.4 })
        // Noise, not a flat line; and correlated from one reading to the next.
        let mean = hr.reduce(0, +) / Double(hr.count)
        let sd = (hr.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(hr.count)).squareRoot()
        #expect(sd > 1.5 && sd < 6)
        let lag1 = zip(hr, hr.dropFirst()).map { ($0 - mean) * ($1 - mean) }.reduce(0, +) / Double(hr.count - 1)
        #expect(lag1 / (sd * sd) > 0.5, "autocorrelated")
    }

    @Test func hypoxiaSlidesThenFailsUnlessRepaired() throws {
        let fault = VitalsSimulator.Fault(kind: .hypoxia, start: 600, length: 600)
        var sim = VitalsSimulator(seed: 3, faults: [fault])
        let steps = run(&sim, for: 1500)
        let events = steps.flatMap(\.1)
        #expect(events.first == .faultStarted(.hypoxia))
        let criticalAt = try #require(steps.first { $0.1.contains(.critical(.hypoxia)) }?.0.time)
        #expect(criticalAt > 1000 && criticalAt <= 1205, "critical near the end of the slide")
        let before = steps.filter { $0.0.time > 900 && $0.0.time < 950 }.compactMap(\.0.spo2)
        #expect(before.allSatisfy { $0 < 96 }, "the warning is in the vitals minutes before")
        let hrDuring = steps.filter { $0.0.time > 1100 && $0.0.time < 1150 }.compactMap(\.0.heartRate)
        #expect(hrDuring.reduce(0, +) / Double(hrDuring.count) > 78, "the heart answers low oxygen")

        // Repaired in time: the fault ends and SpO2 comes back.
        var healed = VitalsSimulator(seed: 3, faults: [fault])
        _ = run(&healed, for: 900)
        #expect(healed.repair() == .faultEnded(.hypoxia, healed: true))
        let after = run(&healed, for: 600)
        #expect(!after.flatMap(\.1).contains(.critical(.hypoxia)))
        #expect(after.suffix(20).compactMap(\.0.spo2).allSatisfy { $0 > 95 })
    }

    @Test func theOtherFaultsLookAsTheyShould() throws {
        var sim = VitalsSimulator(
            seed: 5,
            faults: [
                .init(kind: .crash, start: 100, length: 0), .init(kind: .dropout, start: 200, length: 100),
                .init(kind: .stuck, start: 400, length: 200), .init(kind: .tachycardia, start: 700, length: 100),
                .init(kind: .fever, start: 900, length: 1200),
            ]
        )
        let steps = run(&sim, for: 2400)
        let crash = try #require(steps.first { $0.1.contains(.critical(.crash)) })
        #expect(crash.0.time == 100, "a crash gives no warning")
        #expect(steps.filter { $0.0.time > 205 && $0.0.time < 295 }.allSatisfy { $0.0.heartRate == nil })
        let stuck = Set(steps.filter { $0.0.time > 410 && $0.0.time < 590 }.compactMap(\.0.heartRate))
        #expect(stuck.count == 1, "a stuck sensor repeats itself")
        let tachy = steps.filter { $0.0.time > 730 && $0.0.time < 770 }.compactMap(\.0.heartRate)
        #expect(tachy.allSatisfy { $0 > 100 })
        #expect(!steps.flatMap(\.1).contains(.critical(.tachycardia)), "episodes do not fail life support")
        let feverCritical = try #require(steps.first { $0.1.contains(.critical(.fever)) })
        #expect(feverCritical.0.temperature ?? 0 > 39.4)
    }

    @Test func theLinkMarksAndClears() throws {
        let dir = NSTemporaryDirectory() + "warden-link-\(UUID().uuidString)"
        let link = LifeSupportLink(directory: dir)
        #expect(!FileManager.default.fileExists(atPath: link.criticalPath))
        link.markCritical(.hypoxia)
        #expect(try String(contentsOfFile: link.criticalPath, encoding: .utf8) == "hypoxia")
        #expect(!link.takeRepaired())
        FileManager.default.createFile(atPath: link.repairedPath, contents: nil)
        #expect(link.takeRepaired())
        #expect(!link.takeRepaired(), "seen once")
        link.clearCritical()
        #expect(!FileManager.default.fileExists(atPath: link.criticalPath))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
