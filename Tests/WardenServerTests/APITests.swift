import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WardenCore
import WardenHTTP
import WardenServer
import WardenStore
import WardenSupervisor
import WardenTestSupport
import Yams

/// The routes, through HummingbirdTesting's router and live frameworks, over a real store.
@Suite("API routes", .timeLimit(.minutes(2)))
struct APITests {
    init() { becomeSubreaper() }

    let op = Tokens.header(Tokens.operator)
    let viewer = Tokens.header(Tokens.viewer)

    @Test func ingestedSamplesAreCommittedAndQueryable() async throws {
        let node = try APINode()
        // On a whole minute: with a step of whole minutes, steps start on whole minutes.
        let now = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60
        try await node.test { client in
            var batch: [String] = []
            for i in 0..<600 {
                batch.append(
                    #"{"series":"vitals.hr","labels":{"crew":"a"},"t":\#(now - 600 + Double(i)),"v":\#(60 + i % 10)}"#
                )
            }
            let body = "{\"samples\": [" + batch.joined(separator: ",") + "]}"
            try await client.execute(uri: "/v1/ingest", method: .post, headers: op, body: ByteBuffer(string: body)) {
                r in
                #expect(r.status == .ok)
                #expect(r.json?["accepted"]?.intValue == 600)
                #expect(r.json?["rejected_count"]?.intValue == 0)
            }
            try await client.execute(
                uri: "/v1/ingest/prometheus",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "vitals_temp{crew=\"a\"} 36.6\n")
            ) { r in
                #expect(r.json?["accepted"]?.intValue == 1)
            }
            try await client.execute(
                uri: "/v1/ingest/influx?precision=s",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "vitals,crew=a spo2=97 \(Int(now))\n")
            ) { r in
                #expect(r.json?["accepted"]?.intValue == 1)
            }
            // A 200 means committed: the series are there at once.
            try await client.execute(uri: "/v1/series", method: .get, headers: viewer) { r in
                let names = r.json?["series"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                #expect(Set(names).isSuperset(of: ["vitals.hr", "vitals_temp", "vitals.spo2"]))
            }
            let since = APICoding.format(Date(timeIntervalSince1970: now - 600))
            try await client.execute(
                uri:
                    "/v1/series/vitals.hr?since=\(since)&until=\(APICoding.format(Date(timeIntervalSince1970: now)))&step=60s&label=crew=a",
                method: .get,
                headers: viewer
            ) { r in
                #expect(r.status == .ok)
                let series = r.json?["series"]?.arrayValue ?? []
                #expect(series.count == 1)
                let points = series.first?["points"]?.arrayValue ?? []
                #expect(points.count == 10)
                #expect(points.reduce(0) { $0 + ($1["count"]?.intValue ?? 0) } == 600)
                #expect(points.first?["min"]?.doubleValue == 60)
                #expect(points.first?["max"]?.doubleValue == 69)
                #expect(points.first?["avg"]?.doubleValue == 64.5)
            }
        }
    }

    @Test func badIngestRequestsName_TheirFault() async throws {
        let node = try APINode(extraAPI: "  max_body: 2KB")
        try await node.test { client in
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "{\"samples\": [")
            ) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["error"]?["message"]?.stringValue?.contains("malformed JSON at byte") == true)
            }
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: #"{"samples": 3}"#)
            ) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["error"]?["field"]?.stringValue == "samples")
            }
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: #"[{"series":"x","v":"high"}]"#)
            ) { r in
                #expect(r.status == .badRequest, "every item rejected")
                #expect(r.json?["rejected"]?.arrayValue?.first?["field"]?.stringValue == "v")
            }
            try await client.execute(
                uri: "/v1/ingest/influx?precision=minutes",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "m v=1")
            ) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["error"]?["field"]?.stringValue == "precision")
            }
            let big = "[" + Array(repeating: #"{"series":"x","v":1}"#, count: 200).joined(separator: ",") + "]"
            try await client.execute(uri: "/v1/ingest", method: .post, headers: op, body: ByteBuffer(string: big)) {
                r in
                #expect(r.status == .contentTooLarge)
                #expect(r.json?["error"]?["message"]?.stringValue?.contains("api.max_body") == true)
            }
        }
        let stored = try await node.store.series(prefix: nil, limit: 100)
        #expect(!stored.contains { $0.key.name == "x" }, "nothing from refused requests was stored")
    }

    /// An aggregate that overflowed (data stored before ingest refused values beyond ±1e150) is
    /// written as Prometheus writes it rather than failing the answer with an empty 500, and the
    /// CLI reads it back.
    @Test func numbersThatAreNotFiniteAreWrittenAsPrometheusWritesThem() throws {
        struct Point: Codable { var sum: Double }
        let data = try APICoding.encoder().encode([Point(sum: .infinity), Point(sum: -.infinity), Point(sum: .nan)])
        #expect(String(decoding: data, as: UTF8.self) == #"[{"sum":"+Inf"},{"sum":"-Inf"},{"sum":"NaN"}]"#)
        let back = try APICoding.decoder().decode([Point].self, from: data)
        #expect(back[0].sum == .infinity && back[1].sum == -.infinity && back[2].sum.isNaN)
    }

    @Test func badQueryParametersNameTheField() async throws {
        let node = try APINode()
        try await node.test { client in
            for (uri, field) in [
                ("/v1/events?limit=0", "limit"), ("/v1/events?limit=abc", "limit"),
                ("/v1/events?since=yesterday", "since"),
                ("/v1/events?order=up", "order"), ("/v1/events?cursor=-4", "cursor"), ("/v1/events?type=a%20b", "type"),
                ("/v1/series/cpu?step=fast", "step"), ("/v1/series/9cpu", "name"),
                ("/v1/series/cpu?label=nolabel", "label"),
                ("/v1/series/cpu?since=1h&until=2h", "since"),
            ] {
                try await client.execute(uri: uri, method: .get, headers: viewer) { r in
                    #expect(r.status == .badRequest, "\(uri)")
                    #expect(r.json?["error"]?["field"]?.stringValue == field, "\(uri): \(String(buffer: r.body))")
                }
            }
            try await client.execute(uri: "/v1/services/nope", method: .get, headers: viewer) { r in
                #expect(r.status == .notFound)
                #expect(r.json?["error"]?["message"]?.stringValue == "no service named 'nope'")
            }
        }
    }

    @Test func eventsArePagedWithACursor() async throws {
        let node = try APINode()
        try await node.test { client in
            for i in 0..<25 { node.bus.publish("test.page", source: "test", subject: "s\(i)") }
            try await eventually("recorded") { node.recorder.committedID >= node.bus.lastID }
            var cursor: String?
            var seen: [Int64] = []
            repeat {
                let uri = "/v1/events?type=test.page&limit=10" + (cursor.map { "&cursor=\($0)" } ?? "")
                cursor = try await client.execute(uri: uri, method: .get, headers: viewer) { r in
                    seen += r.json?["events"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
                    return r.json?["next_cursor"]?.stringValue
                }
            } while cursor != nil
            #expect(seen.count == 25)
            #expect(seen == seen.sorted())
            try await client.execute(uri: "/v1/events?type=test.page&limit=3&order=desc", method: .get, headers: viewer)
            { r in
                let ids = r.json?["events"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
                #expect(ids == Array(seen.suffix(3).reversed()))
            }
        }
    }

    @Test func theRateLimitAnswers429WithRetryAfter() async throws {
        // Time stands still, so the bucket refills only when the test says so.
        let clock = ManualClock()
        let node = try APINode(extraAPI: "  rate: 1/s\n  burst: 3", clock: clock)
        try await node.test { client in
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<5 {
                try await client.execute(uri: "/v1/services", method: .get, headers: viewer) { r in
                    statuses.append(r.status.code)
                    if r.status == .tooManyRequests { retryAfter = r.headers[.retryAfter] }
                }
            }
            #expect(statuses == [200, 200, 200, 429, 429])
            #expect(retryAfter == "1")
            // Another token has its own bucket.
            try await client.execute(uri: "/v1/services", method: .get, headers: op) { #expect($0.status == .ok) }
            // A second later there is room for one more.
            clock.advance(by: .seconds(1))
            try await client.execute(uri: "/v1/services", method: .get, headers: viewer) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/services", method: .get, headers: viewer) {
                #expect($0.status == .tooManyRequests)
            }

        }
    }

    @Test func tokenBucketRefills() {
        let t0 = Instant(nanoseconds: 0)
        var b = TokenBucket(capacity: 2, rate: 4, now: t0)
        #expect(b.take(now: t0) == nil)
        #expect(b.take(now: t0) == nil)
        #expect(b.take(now: t0) == .milliseconds(250))
        #expect(b.take(now: t0 + .milliseconds(250)) == nil)
        #expect(b.isFull(now: t0 + .seconds(1)))
    }

    @Test func metricsAndTheOpenAPIDocumentAreServed() async throws {
        let node = try APINode()
        try await node.test { client in
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: #"[{"series":"m","v":1}]"#)
            ) { _ in }
            try await client.execute(uri: "/metrics", method: .get, headers: viewer) { r in
                let text = String(buffer: r.body)
                #expect(r.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(text.contains(#"warden_ingest_samples_total{result="accepted"}"#))
                #expect(text.contains("hb_requests"))
                #expect(text.contains("warden_bus_dropped_events"))
                #expect(text.contains(#"warden_service_restarts_total{service="svc"}"#))
            }
            try await client.execute(uri: "/v1/openapi.yaml", method: .get) { r in
                let text = String(buffer: r.body)
                #expect(text.hasPrefix("openapi: 3.1.0"))
                // It is YAML (schemathesis refuses a document that is not), with every route.
                let document = try Yams.load(yaml: text) as? [String: Any]
                let paths = Set((document?["paths"] as? [String: Any])?.keys.map { $0 } ?? [])
                for path in [
                    "/v1/services/{name}/restart", "/v1/events/stream", "/v1/ingest/influx", "/v1/series/{name}",
                    "/metrics", "/v1/slos", "/v1/hooks/{name}", "/v1/session", "/auth", "/v1/events",
                ] {
                    #expect(paths.contains(path), "the document lacks \(path)")
                }
            }
        }
    }

    @Test func serverSentEventsResumeWithoutGapsOrDuplicates() async throws {
        let node = try APINode()
        try await node.test(.live) { client in
            for i in 0..<30 { node.bus.publish("test.sse", source: "test", subject: "s\(i)") }
            try await eventually("recorded") { node.recorder.committedID >= node.bus.lastID }
            let history = try await node.store.events(matching: EventQuery(types: ["test.sse"]))
            #expect(history.count == 30)
            let resumeAfter = history[9].id  // the client saw the first ten
            let port = try #require(client.port)
            let api = WardenAPIClient(host: "127.0.0.1", port: port, token: Tokens.viewer)
            let bus = node.bus
            // While the stream replays history, more events are published live.
            let publisher = Task {
                try await Task.sleep(for: .milliseconds(100))
                for i in 30..<60 { bus.publish("test.sse", source: "test", subject: "s\(i)") }
            }
            var ids: [Int64] = []
            _ = try await api.stream("/v1/events/stream?type=test.sse", lastEventID: resumeAfter) { id, _ in
                if let id { ids.append(id) }
                return ids.count < 50
            }
            try await publisher.value
            try await eventually("all recorded") { node.recorder.committedID >= node.bus.lastID }
            let expected = try await node.store.events(matching: EventQuery(types: ["test.sse"], afterID: resumeAfter))
                .map(\.id)
            #expect(expected.count == 50)
            #expect(ids == expected, "every event after the resume point, once, in order")
        }
    }

    /// `/metrics` passes Prometheus's own linter: HELP on every metric, counters ending in
    /// `_total`, units on durations.
    @Test func metricsPassPromtool() async throws {
        let promtool = try #require(which("promtool"), "apt-get install prometheus (it ships promtool)")
        let node = try APINode()
        let text = try await node.test { client in
            // Some traffic first, so that the request metrics exist too.
            try await client.execute(uri: "/v1/services", method: .get, headers: viewer) { _ in }
            try await client.execute(uri: "/v1/nope", method: .get, headers: viewer) { _ in }
            try await client.execute(
                uri: "/v1/ingest/prometheus",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "m 1\n")
            ) {
                _ in
            }
            return try await client.execute(uri: "/metrics", method: .get, headers: viewer) { String(buffer: $0.body) }
        }
        #expect(text.contains("# HELP warden_ingest_requests_total"))
        #expect(text.contains("hb_requests_total"))
        let result = await ChildProcess.capture([promtool, "check", "metrics"], input: text)
        #expect(result.status == 0, "\(result.output)")
    }
}
