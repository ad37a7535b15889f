import Foundation
import Testing
import WardenCore
import WardenDetect
import WardenHeal
import WardenTestSupport

/// A calibration of 65 knots, one too many.
private let longCalibration = (1...65).map { "[\(Double($0) / 100), 0.5]" }.joined(separator: ", ")

/// The `monitors:` section, read by WardenDetect's ``MonitorsSection``.
@Suite("The monitors section of the spec")
struct MonitorSpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin"],
        sections: [MonitorsSection.self, HealingSection.self]
    )

    func problems(_ yaml: String) -> [String] { loader.problems("services:\n  api:\n    run: [/bin/true]\n" + yaml) }

    @Test func readsTheMonitorsAndTheirHealLadder() throws {
        let spec = try loader.parse(
            """
            monitors:
              life:
                series: [vitals.spo2, 'vitals.hr{crew="a"}']
                model: ensemble
                train: 1h
                retrain: 6h
                threshold: 95%
                for: 10s
                smoothing: 8
                after_heal: 2m
                calibration: [[0.01, 0.02], [0.5, 0.2], [0.99, 0.96]]
                heal: rebuild api
            services:
              api:
                run: [/bin/sleep, "100"]
                rebuild: [[/bin/true]]
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        let m = try #require(spec.monitors.first)
        #expect(spec.monitors.count == 1)
        #expect(
            m.series == [SeriesSelector(name: "vitals.spo2"), SeriesSelector(name: "vitals.hr", labels: ["crew": "a"])]
        )
        #expect(m.model == "ensemble" && m.train == .seconds(3600) && m.retrain == .seconds(6 * 3600))
        #expect(m.threshold == 0.95 && m.holdFor == .seconds(10) && m.heal == "rebuild api")
        #expect(m.smoothing == 8 && m.afterHeal == .seconds(120))
        #expect(m.calibration?.evidence == [0.01, 0.5, 0.99] && m.calibration?.probability == [0.02, 0.2, 0.96])
        #expect(try MonitorService.configuration(m).calibration == m.calibration)
        let policy = try #require(spec.policies.first { $0.name == "monitor:life" })
        #expect(policy.then == [.rebuild("api")])
        #expect(policy.when == [EventType.monitorAlert])
    }

    /// A threshold that could not be read is reported once, not also compared (as its default)
    /// with the calibration.
    @Test func aThresholdThatIsNotReadIsReportedOnce() {
        let found = problems(
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 1.5\n    calibration: [[0.1, 0.2], [0.9, 0.6]]\n"
        )
        #expect(found.count == 1 && found[0].contains("found 1.5"), "\(found)")
    }

    @Test(arguments: [
        (
            "monitors:\n  m:\n    series: [cpu]\n    model: one-class-svn\n",
            "monitors.m.model: found 'one-class-svn'; expected one of one-class-svm, gaussian"
        ),
        ("monitors:\n  m:\n    series: [cpu, '9bad']\n", "monitors.m.series[1]: found '9bad'; expected a series name"),
        ("monitors:\n  m:\n    model: gaussian\n", "monitors.m: missing required key 'series'"),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 1.5\n",
            "monitors.m.threshold: found 1.5; expected a fraction from 0 to 1"
        ),
        ("monitors:\n  m:\n    series: [cpu]\n    heal: restart nope\n", "monitors.m.heal: no service named 'nope'"),
        ("monitors:\n  m:\n    series: [cpu]\n    after_heal: soon\n", "monitors.m.after_heal: found 'soon'; expected"),
        (
            "monitors:\n  m:\n    series: [cpu]\n    after_heal: 3d\n",
            "monitors.m.after_heal: found 3d; expected at most"
        ),
        ("monitors:\n  m:\n    series: [cpu]\n    smoothing: 0\n", "monitors.m.smoothing: found 0"),
        ("monitors:\n  '9 bad':\n    series: [cpu]\n", "is not a valid monitor name"),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: 0.3\n",
            "monitors.m.calibration: found '0.3'; expected a list of [evidence, probability] pairs"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: [[0.1, 0.2], [0.5]]\n",
            "warden.yaml:8:31: monitors.m.calibration[1]: found a list of 1; expected a pair [evidence, probability]"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: [[0.1, 0.2], [0.5, 1.2]]\n",
            "warden.yaml:8:37: monitors.m.calibration[1][1]: found 1.2; expected a fraction from 0 to 1"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.9\n    calibration: [[0.5, 0.2], [0.1, 0.6]]\n",
            "monitors.m.calibration[1]: evidence 0.1 must be above the previous knot's 0.5"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: [[0.1, 0.7], [0.5, 0.6]]\n",
            "monitors.m.calibration[1]: probability 0.6 is below the previous knot's 0.7; the map must not fall"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    calibration: [[0.1, 0.2], [0.9, 0.6]]\n",
            "warden.yaml:7:18: monitors.m.calibration: the threshold (0.9 by default) is above the calibration's "
                + "highest probability 0.6; the monitor could never alert; give a threshold: within the map"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.8\n    calibration: [[0.1, 0.2], [0.9, 0.6]]\n",
            "warden.yaml:7:16: monitors.m.threshold: found 0.8, which is above the calibration's highest probability 0.6"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.1\n    calibration: [[0.1, 0.2], [0.9, 0.6]]\n",
            "monitors.m.threshold: found 0.1, which is at or below the calibration's lowest probability 0.2; "
                + "the monitor would always alert"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: [[0.1, 0.3], [0.9, 0.3]]\n",
            "monitors.m.calibration: every knot gives 0.3; a calibration needs two probabilities at least"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 1.5\n    calibration: [[0.1, 0.2], [0.9, 0.6]]\n",
            "monitors.m.threshold: found 1.5; expected a fraction"
        ),
        (
            "monitors:\n  m:\n    series: [cpu]\n    threshold: 0.5\n    calibration: [\(longCalibration)]\n",
            "monitors.m.calibration: found 65 pairs; expected 1 to 64"
        ),
    ])
    func badMonitorsAreExplained(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) && $0.hasPrefix("warden.yaml:") }, "\(found)")
    }
}
