import Testing
import WardenCore
import WardenTestSupport

/// `limits:` of a service and `cgroups:` at the top: systemd's units, checked where they are written.
@Suite("Spec: resource limits")
struct ResourceLimitsSpecTests {
    let loader = SpecLoader(environment: ["PATH": "/usr/bin:/bin"])

    @Test func everyLimitIsRead() throws {
        let spec = try loader.parse(
            """
            services:
              db:
                run: [/bin/sleep, "1000"]
                limits:
                  memory_max: 1GiB
                  memory_high: 768MiB
                  cpu_quota: 150%
                  cpu_weight: 200
                  tasks_max: 512
                  io_weight: 50
              web:
                run: [/bin/sleep, "1000"]
                limits: { cpu_quota: 0.25 }
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        #expect(spec.cgroups == .auto)
        #expect(
            spec.services[0].limits
                == ResourceLimits(
                    memoryMax: 1 << 30,
                    memoryHigh: 768 << 20,
                    cpuQuota: 1.5,
                    cpuWeight: 200,
                    tasksMax: 512,
                    ioWeight: 50
                )
        )
        #expect(spec.services[1].limits.cpuQuota == 0.25)
        #expect(spec.services[1].limits.memoryMax == nil)
    }

    @Test(arguments: [
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { memory_max: lots }\n",
            "warden.yaml:4:27: services.a.limits.memory_max: found 'lots'; expected a size such as 512KB, 10MB or 1GB"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { memory_max: 100, memory_high: 1MB }\n",
            "warden.yaml:4:27: services.a.limits.memory_max: found 100; expected at least 4KB"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { memory_max: 1MB, memory_high: 2MB }\n",
            "warden.yaml:4:45: services.a.limits.memory_high: found 2MB, above memory_max (1MB); memory_high must not exceed memory_max"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { cpu_quota: 0% }\n",
            "warden.yaml:4:26: services.a.limits.cpu_quota: found 0%; expected from 1% to 100000% (0.01 to 1000 CPUs)"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { cpu_quota: fast }\n",
            "warden.yaml:4:26: services.a.limits.cpu_quota: found 'fast'; expected a share of one CPU such as 50% or 0.5, or 200% or 2 for two CPUs"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { tasks_max: 0 }\n",
            "warden.yaml:4:26: services.a.limits.tasks_max: found 0; expected a whole number from 1 to 4194304"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { cpu_weight: 20000 }\n",
            "warden.yaml:4:27: services.a.limits.cpu_weight: found 20000; expected a whole number from 1 to 10000"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    limits: { memory: 1GB }\n",
            "warden.yaml:4:15: services.a.limits.memory: unknown key 'memory'"
        ),
        (
            "cgroups: off\nservices:\n  a:\n    run: [/bin/true]\n    limits: { tasks_max: 10 }\n",
            "warden.yaml:5:13: services.a.limits: limits are enforced by cgroups, which this spec turns off (cgroups: off); remove one or the other"
        ),
        (
            "cgroups: v3\nservices: {}\n",
            "warden.yaml:1:10: cgroups: found 'v3'; expected one of auto, off"
        ),
    ])
    func badLimitsAreLocated(yaml: String, expected: String) {
        let problems = loader.problems(yaml)
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.hasPrefix(expected) == true, "\(problems)")
    }

    @Test func cgroupsCanBeTurnedOff() throws {
        let spec = try loader.parse("cgroups: off\nservices: {}\n", file: "w.yaml", baseDir: "/tmp")
        #expect(spec.cgroups == .off)
    }
}
