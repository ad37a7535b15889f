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

    /// Telemetry in a batch: what is refused names the point or series at fault; what is read is
    /// what was written, values that are not finite included.
    @Test func batchSamplesAreCheckedAndSurviveTheWire() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let t = Int64(now.timeIntervalSince1970 * 1_000_000)
        let series = [SeriesKey(name: "cpu", labels: ["core": "0"]), SeriesKey(name: "mem.rss")]
        func batch(_ points: [FleetSamples.Point], series: [SeriesKey] = series) -> FleetBatch {
            FleetBatch(node: "n", labels: [:], events: [], samples: FleetSamples(series: series, points: points))
        }
        func point(_ s: Int, _ id: Int64, _ dt: Int64 = 0, _ v: Double = 1) -> FleetSamples.Point {
            FleetSamples.Point(series: s, id: id, timeUs: t + dt, value: v)
        }
        let good = batch([
            point(0, 1, 0, .nan), point(1, 3, 1, .infinity), point(0, 4, 2, -.infinity), point(1, 9, 3, 0.25),
        ])
        #expect(good.problem(now: now) == nil)
        let wire = try JSONEncoder().encode(good)
        guard case .success(let read) = FleetBatch.parse(Array(wire)) else {
            Issue.record("the batch did not parse back: \(String(decoding: wire, as: UTF8.self))")
            return
        }
        #expect(read.samples?.series == series)
        #expect(read.samples?.points.map(\.id) == [1, 3, 4, 9])
        #expect(read.samples?.points.map(\.timeUs) == [t, t + 1, t + 2, t + 3])
        let values = read.samples?.points.map(\.value) ?? []
        #expect(values.count == 4 && values[0].isNaN && values[1] == .infinity && values[2] == -.infinity)
        #expect(values.last == 0.25)

        func problem(_ b: FleetBatch) -> String? { b.problem(now: now)?.field }
        #expect(problem(batch([point(0, 2), point(1, 2)])) == "samples.points[1]", "ids must increase")
        #expect(problem(batch([point(0, 0)])) == "samples.points[0]", "ids are positive")
        #expect(problem(batch([point(0, 1, 601_000_000)])) == "samples.points[0]", "from the future")
        #expect(problem(batch([point(0, 1, 599_000_000)])) == nil)
        #expect(problem(batch([point(2, 1)])) == "samples.points[0]", "no such series")
        #expect(problem(batch([point(0, 1)], series: [SeriesKey(name: "9lives")])) == "samples.series[0].name")
        #expect(
            problem(batch([point(0, 1)], series: [SeriesKey(name: "ok", labels: ["bad-label": "x"])]))
                == "samples.series[0].labels.bad-label"
        )
        // The parser says which field is malformed.
        func parsed(_ json: String) -> String? {
            if case .failure(let p) = FleetBatch.parse(Array(json.utf8)) { return p.field }
            return nil
        }
        let head = #"{"node":"n","events":[],"samples":"#
        #expect(parsed(head + #"{"series":[{"name":"a"}],"points":[[0,1,2]]}}"#) == "samples.points[0]")
        #expect(parsed(head + #"{"series":[{"name":"a"}],"points":[[1,1,2,3]]}}"#) == "samples.points[0]")
        #expect(parsed(head + #"{"series":[{"name":"a"}],"points":[[0,1,2,"Infinity"]]}}"#) == "samples.points[0]")
        #expect(parsed(head + #"{"series":[{"labels":{}}],"points":[]}}"#) == "samples.series[0].name")
        #expect(
            parsed(head + #"{"series":[{"name":"a","labels":{"x":1}}],"points":[]}}"#) == "samples.series[0].labels.x"
        )
        #expect(parsed(head + #"{"points":[]}}"#) == "samples.series")
        #expect(parsed(head + #"[]}"#) == "samples")
        let many = "[" + Array(repeating: "[0,1,2,3]", count: FleetSamples.maxPoints + 1).joined(separator: ",") + "]"
        #expect(parsed(head + #"{"series":[{"name":"a"}],"points":"# + many + "}}") == "samples.points")
        #expect(parsed(head + "null}") == nil, "no samples is fine")
    }

    /// Failures back off from `every`, doubling, to at most 30 s.
    @Test func failuresBackOff() {
        #expect(Uplink.backoff(failures: 1, every: .milliseconds(200)) == .milliseconds(400))
        #expect(Uplink.backoff(failures: 3, every: .milliseconds(200)) == .milliseconds(1600))
        #expect(Uplink.backoff(failures: 50, every: .milliseconds(200)) == .seconds(30))
    }
}
