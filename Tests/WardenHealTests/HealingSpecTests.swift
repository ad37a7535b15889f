import Foundation
import Testing
import WardenCore
import WardenDetect
import WardenHeal
import WardenTestSupport

/// The healing section: `healing:`, `notify:`, `policies:` and the `heal:` ladders it reads inside
/// the entries of `services:` and `monitors:`.
@Suite("Healing spec", .timeLimit(.minutes(1)))
struct HealingSpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin", "HOME": "/root"],
        sections: [MonitorsSection.self, HealingSection.self]
    )

    func problems(_ yaml: String, loader: SpecLoader? = nil) -> [String] { (loader ?? self.loader).problems(yaml) }

    /// A service's ladder becomes its ladder and a policy on its failures; a monitor's, a policy on
    /// its alerts; `policies:` get the `healing:` defaults they do not override.
    @Test func laddersAndPoliciesAreRead() throws {
        let spec = try loader.parse(
            """
            healing: { verify: 7s, cooldown: 1m, escalate: pager }
            notify:
              pager: { url: "https://hooks.example.com/T0/B0", attempts: 3 }
            services:
              api:
                run: [/bin/sleep, "1"]
                heal: [restart, notify pager]
            monitors:
              cpu:
                series: [cpu]
                heal: restart api
            policies:
              disk:
                when: [monitor.alert]
                if: { payload.probability: ">= 0.9" }
                then: [stop api]
                settle: 3s
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        #expect(spec.healing.verify == .seconds(7) && spec.healing.escalate == "pager")
        #expect(spec.notify.map(\.name) == ["pager"] && spec.notify.first?.attempts == 3)
        #expect(spec.sections[HealingSection.self]?.serviceLadders["api"] == [.restart("api"), .notify("pager")])
        #expect(spec.policies.map(\.name) == ["service:api", "monitor:cpu", "disk"])
        let disk = try #require(spec.policies.last)
        #expect(disk.then == [.stop("api")] && disk.settle == .seconds(3) && disk.verify == .seconds(7))
        #expect(disk.cooldown == .seconds(60))
        #expect(disk.conditions == [EventCondition(field: "payload.probability", op: .ge, value: "0.9")])
        #expect(spec.policies[1].when == [EventType.monitorAlert] && spec.policies[1].subject == "cpu")
        // The monitor keeps its ladder as written, for its alerts.
        #expect(spec.monitors.first?.heal == "restart api")
    }

    /// Without the healing section, nobody reads `heal:`, `notify:` or `policies:`: each is an
    /// unknown key, never silently ignored.
    @Test func healingKeysAreUnknownWithoutTheSection() {
        let bare = SpecLoader(environment: ["PATH": "/usr/bin:/bin"], sections: [MonitorsSection.self])
        let found = problems(
            """
            notify: { ops: { url: "https://x.example/" } }
            services:
              api:
                run: [/bin/sleep, "1"]
                heal: [restart]
            monitors:
              cpu: { series: [cpu], heal: restart api }
            """,
            loader: bare
        )
        #expect(found.count == 3, "\(found)")
        #expect(found.allSatisfy { $0.contains("unknown key") }, "\(found)")
        #expect(found.contains { $0.contains("'notify'") })
        #expect(found.filter { $0.contains("'heal'") }.count == 2)
    }

    /// A monitor's ladder of the wrong shape is reported once, by the section that reads it.
    @Test func aBadMonitorLadderIsReportedOnce() {
        let found = problems("monitors:\n  m:\n    series: [cpu]\n    heal: { restart: api }\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("warden.yaml:4:11: monitors.m.heal:") == true, "\(found)")
    }

    @Test(arguments: [
        ("services:\n  a:\n    run: [/bin/true]\n    heal: [restart b]\n", "services.a.heal: no service named 'b'"),
        ("services:\n  a:\n    run: [/bin/true]\n    heal: [reboot]\n", "services.a.heal: found 'reboot'"),
        ("services:\n  a:\n    run: [/bin/true]\n    heal: [rebuild]\n", "service 'a' has no rebuild steps"),
        ("services:\n  a:\n    run: [/bin/true]\n    heal: [notify ops]\n", "no notify target named 'ops'"),
        (
            "services: {}\nhealing: { escalate: pagr }\nnotify: { pager: { url: \"https://x.example/\" } }\n",
            "did you mean 'pager'?"
        ),
        (
            "services: {}\npolicies:\n  p: { when: [\"bad type!\"], then: [notify x] }\n",
            "an event type is dotted words"
        ),
        (
            "services: {}\npolicies:\n  p: { when: [x.y], if: { pid: \"1\" }, then: [notify x] }\n",
            "conditions are on type"
        ),
        ("services: {}\nnotify:\n  n: { url: \"ftp://x\" }\n", "notify.n.url"),
        ("services: {}\nhealing: { concurrency: 0 }\n", "healing.concurrency: found 0"),
    ])
    func badHealingIsExplained(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) && $0.hasPrefix("warden.yaml:") }, "\(found)")
    }

    /// Aliases that expand to a trillion nodes under `heal:` are not expanded.
    @Test func anAliasBombUnderHealIsNotExpanded() {
        let yaml = aliasBomb() + "services:\n  s:\n    run: [/bin/sleep, \"1\"]\n    heal: *a11\n"
        let found = problems(yaml)
        #expect(!found.isEmpty)
        #expect(found.count < 100, "one problem per key, not per expanded node")
    }

    /// A ladder on every hundredth of 20,000 services: read in linear time (a mapping lookup per
    /// service used to be a scan). The suite's time limit catches a return to quadratic time.
    @Test func twentyThousandServicesWithLaddersLoad() async throws {
        let loader = self.loader
        let spec = try await offThePool {
            var yaml = "services:\n"
            for i in 0..<20_000 {
                yaml += "  s\(i):\n    run: [/bin/sleep, \"100\"]\n"
                if i % 100 == 0 { yaml += "    heal: [restart]\n" }
            }
            return try loader.parse(yaml, file: "warden.yaml", baseDir: "/tmp")
        }
        #expect(spec.services.count == 20_000)
        #expect(spec.sections[HealingSection.self]?.serviceLadders.count == 200)
        #expect(spec.policies.count == 200)
    }
}
