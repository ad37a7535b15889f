import Foundation
import Logging
import Testing
import WardenCore

@testable import WardenDetect

/// What a saved monitor state must have been made for.
@Suite("The monitor's saved-state digest")
struct MonitorDigestTests {
    func digest(_ calibration: ProbabilityMap?) throws -> String {
        var spec = MonitorSpec(name: "m", series: [SeriesSelector(name: "cpu")], model: "ensemble", threshold: 0.3)
        spec.calibration = calibration
        return try MonitorService(
            spec: spec,
            feed: FanOut<SampleBatch>(),
            bus: EventBus(),
            states: nil,
            record: { _ in },
            logger: Logger(label: "test")
        ).digest
    }

    /// Without a calibration the digest is written as it was before calibrations existed (so an
    /// upgraded Warden restores what it saved): no trace of the new key. With one, it changes
    /// with the knots.
    @Test func aMonitorWithoutACalibrationKeepsItsEarlierDigest() throws {
        let plain = try digest(nil)
        #expect(!plain.contains("calibration:") && plain.hasPrefix("MonitorConfiguration(features: 1,"), "\(plain)")
        #expect(plain.contains("afterHeal: 30.0 seconds)|"), "\(plain)")
        let one = try digest(ProbabilityMap(evidence: [0.1, 0.9], probability: [0.05, 0.6]))
        let other = try digest(ProbabilityMap(evidence: [0.1, 0.9], probability: [0.05, 0.7]))
        #expect(one.contains("calibration: ") && one != plain && one != other)
    }
}
