import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WardenCore
import WardenServer
import WardenStore
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// What the API refuses, and how: series and label caps on ingest, bounded series queries.
@Suite("API limits", .serialized, .timeLimit(.minutes(3)))
struct APILimitTests {
    init() { becomeSubreaper() }

    let op = Tokens.header(Tokens.operator)
    let viewer = Tokens.header(Tokens.viewer)

    /// A repeated Influx tag used to answer 500.
    @Test func aRepeatedTagIsA400WithItsReason() async throws {
        let node = try APINode()
        try await node.test { client in
            try await client.execute(
                uri: "/v1/ingest/influx",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "m,host=a,host=b v=1\n")
            ) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["rejected"]?.arrayValue?.first?["reason"]?.stringValue == "label 'host' appears twice")
            }
        }
    }

    @Test func newSeriesBeyondTheCapAreRefusedAndKnownOnesStillGoIn() async throws {
        let node = try APINode(extraSpec: "samples: { max_series: 3 }")
        let before = metric("warden_ingest_series_refused_samples_total")
        try await node.test { client in
            let five = (0..<5).map { #"{"series":"s\#($0)","v":1}"# }.joined(separator: ",")
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "[\(five)]")
            ) {
                r in
                #expect(r.status == .ok)
                #expect(r.json?["accepted"]?.intValue == 3)
                let rejected = r.json?["rejected"]?.arrayValue ?? []
                #expect(rejected.map { $0["item"]?.intValue } == [3, 4])
                #expect(rejected.allSatisfy { $0["field"]?.stringValue == "series" })
                #expect(rejected.first?["reason"]?.stringValue?.contains("samples.max_series") == true)
            }
            // Only new series: 429, the client is over a quota.
            try await client.execute(
                uri: "/v1/ingest/prometheus",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "fresh 1\nfresh{a=\"b\"} 2\n")
            ) { r in
                #expect(r.status == .tooManyRequests)
                #expect(r.json?["error"]?["code"]?.stringValue == "series_limit")
            }
            // Series already stored are never refused.
            try await client.execute(
                uri: "/v1/ingest",
                method: .post,
                headers: op,
                body: ByteBuffer(string: #"[{"series":"s0","v":2},{"series":"s2","v":3}]"#)
            ) { r in
                #expect(r.status == .ok)
                #expect(r.json?["accepted"]?.intValue == 2)
            }
        }
        #expect(await node.store.seriesCount() == 3)
        #expect(metric("warden_ingest_series_refused_samples_total") - before == 4)
    }

    @Test func queriesOverTooManySeriesOrPointsAreRefusedBeforeTheyRun() async throws {
        let node = try APINode(extraAPI: "  max_query_series: 10\n  max_query_points: 10000")
        try await fill(node.store, series: 20, points: 10)
        try await node.test { client in
            try await client.execute(uri: "/v1/series/big?since=1h", method: .get, headers: viewer) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["error"]?["code"]?.stringValue == "too_many_series")
                #expect(r.json?["error"]?["field"]?.stringValue == "label")
            }
            // The label filter narrows it down (in SQL).
            try await client.execute(uri: "/v1/series/big?since=1h&label=i=7", method: .get, headers: viewer) {
                r in
                #expect(r.status == .ok)
                #expect(r.json?["series"]?.arrayValue?.count == 1)
                #expect(r.json?["series"]?.arrayValue?.first?["labels"]?["i"]?.stringValue == "7")
            }
            try await client.execute(uri: "/v1/series/big?since=1h&label=g=a", method: .get, headers: viewer) { r in
                #expect(r.status == .ok)
                #expect(r.json?["series"]?.arrayValue?.count == 10)
            }
            // 10 series at 3,600 steps is more than 10,000 points: raise the step.
            try await client.execute(
                uri: "/v1/series/big?since=1h&step=1s&label=g=a",
                method: .get,
                headers: viewer
            ) { r in
                #expect(r.status == .badRequest)
                #expect(r.json?["error"]?["field"]?.stringValue == "step")
            }
        }
    }

    @Test func aQueryThatRunsTooLongIsStopped() async throws {
        let node = try APINode(
            extraAPI: "  query_timeout: 100ms\n  max_query_series: 1000\n  max_query_points: 100000000"
        )
        try await fill(node.store, series: 100, points: 30_000)
        // The same query straight from the store, with the database's pages cached, takes well
        // over the timeout (else this test would prove nothing).
        _ = try await node.store.query(bigQuery())
        let start = ContinuousClock.now
        let full = try await node.store.query(bigQuery())
        let took = ContinuousClock.now - start
        #expect(full.count == 100)
        try #require(took > .milliseconds(300), "the data set is too small to outlast the timeout: \(took)")
        let before = metric("warden_api_queries_timed_out_total")
        try await node.test { client in
            try await client.execute(uri: "/v1/series/big?since=1h&step=1s", method: .get, headers: viewer) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(r.json?["error"]?["code"]?.stringValue == "query_timeout")
            }
        }
        #expect(metric("warden_api_queries_timed_out_total") - before == 1)
    }

    /// A client that asks and hangs up does not leave its query running: the work stops on the
    /// cancellation (counted only when it really ended that way).
    @Test func aQueryWhoseClientHangsUpIsCancelled() async throws {
        let node = try APINode(
            extraAPI: "  query_timeout: 10m\n  max_query_series: 1000\n  max_query_points: 100000000"
        )
        try await fill(node.store, series: 100, points: 4_000)
        let before = metric("warden_api_queries_abandoned_total")
        try await node.test(.live) { client in
            let port = try #require(client.port)
            let fd = loopbackConnect(port)
            try #require(fd >= 0)
            let request =
                "GET /v1/series/big?since=1h&step=1s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Tokens.viewer)\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            close(fd)
            try await eventually("the abandoned query stops", timeout: .seconds(60)) {
                metric("warden_api_queries_abandoned_total") - before == 1
            }
        }
    }

    func bigQuery() -> SeriesQuery {
        let now = Date()
        return SeriesQuery(
            name: "big",
            from: now.addingTimeInterval(-3600),
            to: now,
            step: .seconds(1),
            maxSeries: 1000
        )
    }

    /// `series` series of `big` (labels i=N and g=a for the first ten, g=b after), each with
    /// `points` samples spread over the last 50 minutes.
    func fill(_ store: SQLiteStore, series: Int, points: Int) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        for s in 0..<series {
            // Built on a thread of its own: a million appends would hold a cooperative thread.
            let batch = try await offThePool {
                var batch = SampleBatch()
                let key = SeriesKey(name: "big", labels: ["i": "\(s)", "g": s < 10 ? "a" : "b"])
                for p in 0..<points {
                    batch.append(
                        key,
                        time: now - 3_000_000_000 + Int64(p) * (3_000_000_000 / Int64(points)),
                        value: Double(p)
                    )
                }
                return batch
            }
            try await store.appendSamples(batch)
        }
    }

    /// The current value of a counter in the /metrics text (0 when it was never incremented).
    func metric(_ name: String) -> Int {
        let text = String(decoding: WardenMetrics.render(), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(Double(line.split(separator: " ")[1]) ?? 0)
        }
        return 0
    }
}
