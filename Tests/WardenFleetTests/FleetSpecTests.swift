import Foundation
import Testing
import WardenCore
import WardenFleet
import WardenTestSupport

/// The `fleet:` section and the batch rules agents and the control plane share.
@Suite("The fleet section and batches")
struct FleetSpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin", "FLEET_TOKEN": "s3cret"],
        sections: [FleetSection.self]
    )

    @Test func readsEveryField() throws {
        let spec = try loader.parse(
            """
            fleet:
              control: [http://10.0.0.5:7080, "https://cp.example.com"]
              node: edge-1
              labels: { dc: fra, rack: "7" }
              token: env:FLEET_TOKEN
              every: 500ms
              batch: 200
            services: {}
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        let fleet = try #require(spec.fleet)
        #expect(fleet.control == ["http://10.0.0.5:7080", "https://cp.example.com"])
        #expect(fleet.node == "edge-1" && fleet.labels == ["dc": "fra", "rack": "7"])
        #expect(fleet.token.matches(Array("s3cret".utf8)))
        #expect(fleet.every == .milliseconds(500) && fleet.batch == 200)
        #expect(try loader.parse("services: {}\n", file: "w.yaml", baseDir: "/tmp").fleet == nil, "alone by default")
    }

    @Test(arguments: [
        ("fleet: { control: [ftp://x], node: a, token: env:FLEET_TOKEN }\n", "fleet.control[0]"),
        ("fleet: { control: http://user:pw@x/, node: a, token: env:FLEET_TOKEN }\n", "credentials in the URL"),
        (
            "fleet: { control: [http://x], node: 'a b', token: env:FLEET_TOKEN }\n",
            "fleet.node: 'a b' is not a valid node name"
        ),
        ("fleet: { control: [http://x], node: a, token: hunter2 }\n", "fleet.token: secrets are referenced"),
        ("fleet: { control: [http://x], node: a, token: env:NOPE }\n", "the environment variable NOPE is not set"),
        ("fleet: { control: [http://x], node: a, token: env:FLEET_TOKEN, batch: 0 }\n", "fleet.batch"),
        ("fleet: { control: [http://x], node: a, token: env:FLEET_TOKEN, every: 1ms }\n", "fleet.every"),
        ("fleet: { control: [http://x], node: a, token: env:FLEET_TOKEN, labels: [x] }\n", "fleet.labels"),
        ("fleet: { node: a, token: env:FLEET_TOKEN }\n", "missing required key 'control'"),
    ])
    func badFleetSectionsAreExplained(yaml: String, expected: String) {
        let found = loader.problems(yaml + "services: {}\n")
        #expect(found.contains { $0.contains(expected) && $0.hasPrefix("warden.yaml:") }, "\(found)")
    }

    /// What a control plane refuses in a batch, by field.
    @Test func batchProblemsNameTheField() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func event(_ id: Int64, at seconds: Double = 0) -> FleetEvent {
            FleetEvent(Event(id: id, time: now.addingTimeInterval(seconds), type: "t.x", source: "s", subject: "x"))
        }
        func problem(_ batch: FleetBatch) -> String? { batch.problem(now: now)?.field }
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [event(1), event(2)])) == nil)
        #expect(problem(FleetBatch(node: "", labels: [:], events: [])) == "node")
        #expect(problem(FleetBatch(node: "n", labels: ["bad key": "v"], events: [])) == "labels.bad key")
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [event(2), event(2)])) == "events[1].id")
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [event(0)])) == "events[0].id")
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [event(1, at: 601)])) == "events[0].time_us")
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [event(1, at: 599)])) == nil)
        var long = event(1)
        long.subject = String(repeating: "x", count: 257)
        #expect(problem(FleetBatch(node: "n", labels: [:], events: [long])) == "events[0].subject")
    }

    /// Failures back off from `every`, doubling, to at most 30 s.
    @Test func failuresBackOff() {
        #expect(Uplink.backoff(failures: 1, every: .milliseconds(200)) == .milliseconds(400))
        #expect(Uplink.backoff(failures: 3, every: .milliseconds(200)) == .milliseconds(1600))
        #expect(Uplink.backoff(failures: 50, every: .milliseconds(200)) == .seconds(30))
    }
}
