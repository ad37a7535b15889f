import Foundation
import Testing
import WardenCore
import WardenDetect
import WardenHeal
import WardenTestSupport

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
        let policy = try #require(spec.policies.first { $0.name == "monitor:life" })
        #expect(policy.then == [.rebuild("api")])
        #expect(policy.when == [EventType.monitorAlert])
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
    ])
    func badMonitorsAreExplained(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) && $0.hasPrefix("warden.yaml:") }, "\(found)")
    }
}
