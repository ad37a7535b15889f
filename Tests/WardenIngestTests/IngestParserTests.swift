import Foundation
import Testing
import WardenCore
import WardenIngest

/// The three ingest formats, parsed without a server.
@Suite("Ingest parsers")
struct IngestParserTests: Parsing {
    @Test func jsonBatchesBecomeSamples() throws {
        let r = try json(
            #"""
            {"samples": [
              {"series": "vitals.spo2", "labels": {"crew": "a", "deck": "2"}, "t": 1800000000.5, "v": 97.5},
              {"series": "vitals.spo2", "labels": {"deck": "2", "crew": "a"}, "t": "2027-01-15T08:00:00Z", "v": 96},
              {"series": "vitals.hr", "v": -1e2, "labels": {"note": "esc\"aped \u00e9 \ud83d\ude00"}}
            ]}
            """#
        )
        #expect(r.rejected.isEmpty, "\(r.rejected)")
        #expect(r.accepted == 3)
        #expect(r.batch.series.count == 2, "the same labels in another order are the same series")
        let samples = r.batch.samples
        #expect(samples[0].series == "vitals.spo2")
        #expect(samples[0].labels == ["crew": "a", "deck": "2"])
        #expect(samples[0].value == 97.5)
        #expect(r.batch.points[0].time == 1_800_000_000_500_000)
        #expect(
            r.batch.points[1].time == Int64(try Date("2027-01-15T08:00:00Z", strategy: .iso8601).timeIntervalSince1970)
                * 1_000_000
        )
        #expect(samples[2].labels["note"] == "esc\"aped é 😀")
        #expect(samples[2].value == -100)
        #expect(r.batch.points[2].time == nowMicros, "no t means now")
    }

    /// Escapes in series names and label values are read as JSON says.
    @Test func escapesAreRead() throws {
        let r = try json(#"[{"series": "a\u002eb", "labels": {"k": "\"q\"\t\u00e9"}, "v": 1}]"#)
        #expect(r.rejected.isEmpty, "\(r.rejected)")
        #expect(r.batch.samples.first?.series == "a.b")
        #expect(r.batch.samples.first?.labels == ["k": "\"q\"\té"])
    }

    @Test func aBareArrayIsAcceptedToo() throws {
        let r = try json(#"[{"series":"a","v":1},{"series":"b","v":2}]"#)
        #expect(r.accepted == 2)
    }

    @Test func badItemsAreRejectedOneByOneWithTheirField() throws {
        let r = try json(
            #"""
            {"samples": [
              {"series": "ok", "v": 1},
              {"series": "9starts-with-digit", "v": 1},
              {"series": "no.value"},
              {"series": "x", "v": "NaN"},
              {"series": "x", "v": 1, "t": 1.0},
              {"series": "x", "v": 1, "t": 1900000000},
              {"series": "x", "v": 1, "extra": true},
              {"series": "x", "v": 1, "labels": {"bad-name": "1"}},
              {"series": "x", "v": 1, "labels": {"a": 1}},
              42,
              {"series": "ok", "v": 2},
              {"series": "x", "v": 1.7976931348623157e308},
              {"series": "x", "v": -1e151},
              {"series": "ok", "v": -1e150}
            ]}
            """#
        )
        #expect(r.accepted == 3)
        let byItem = Dictionary(uniqueKeysWithValues: r.rejected.map { ($0.item, $0) })
        #expect(byItem[1]?.field == "series")
        #expect(byItem[2]?.reason == "missing field 'v'")
        #expect(byItem[3]?.field == "v")
        #expect(byItem[4]?.reason == "the time is older than the retention of raw samples allows")
        #expect(byItem[5]?.reason == "the time is too far in the future")
        #expect(byItem[6]?.field == "extra")
        #expect(byItem[7]?.field == "labels")
        #expect(byItem[11]?.field == "v" && byItem[11]?.reason == "the value must be within ±1e150")
        #expect(byItem[12]?.reason == "the value must be within ±1e150")
        #expect(r.batch.points.last?.value == -1e150)
        #expect(byItem[8]?.reason == "the value of label 'a' must be a string")
        #expect(byItem[9]?.reason.contains("must be an object") == true)
        #expect(r.rejected.count == 11)
    }

    @Test(arguments: [
        (#"{"samples": [{"series": "a", "v": 1}"#, "malformed JSON"),
        (#"{"samples": 5}"#, "'samples' must be an array"),
        (#"{"sample": []}"#, "unknown field 'sample'"),
        (#"{}"#, "missing field 'samples'"),
        (#"[{"series": "a", "v": 1}] trailing"#, "unexpected data after the end"),
        ("", "expected an object"),
        (#"{"samples": [{"series": "a\u0000", "v": 01x}]}"#, "malformed JSON"),
        // Commas go between entries only, in every object and array.
        (#"{"samples": [{"series": "a", "v": 1},]}"#, "malformed JSON"),
        (#"{"samples": [,{"series": "a", "v": 1}]}"#, "malformed JSON"),
        (#"{"samples": [{"series": "a", "v": 1,}]}"#, "malformed JSON"),
        (#"{"samples": [{"series": "a", "labels": {"x": "1",}, "v": 1}]}"#, "malformed JSON"),
        (#"{"samples": [], }"#, "malformed JSON"),
        (#"{"samples": [{"series": "a", "v": 1, "extra": [1, 2,]}]}"#, "malformed JSON"),
        (#"{"samples": [{"series": "a", "v": 1, "extra": {"k": 1,}}]}"#, "malformed JSON"),
        (#"{"samples": [{"series": "a" "v": 1}]}"#, "malformed JSON"),
    ])
    func malformedBodiesAreRefusedWhole(body: String, message: String) {
        do {
            _ = try json(body)
            Issue.record("accepted a malformed body: \(body)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func prometheusTextExposition() {
        let r = prometheus(
            """
            # HELP http_requests_total The total number of HTTP requests.
            # TYPE http_requests_total counter
            http_requests_total{method="post",code="200"} 1027 1799999990000
            http_requests_total{method="post",code="400"}    3
            temperature{room="a \\"quoted\\" \\\\ room"} -2.5e1
            up 1
            broken{le= 1
            nan_metric NaN
            inf_metric +Inf
            1bad 2
            """
        )
        #expect(r.accepted == 4)
        let s = r.batch.samples
        #expect(s[0].series == "http_requests_total")
        #expect(s[0].labels == ["method": "post", "code": "200"])
        #expect(s[0].value == 1027)
        #expect(r.batch.points[0].time == 1_799_999_990_000_000)
        #expect(r.batch.points[1].time == nowMicros)
        #expect(s[2].labels["room"] == #"a "quoted" \ room"#)
        #expect(s[2].value == -25)
        #expect(r.rejected.map(\.item) == [7, 8, 9, 10])
        #expect(r.rejected[1].reason == "the value must be a finite number")
    }

    /// OpenMetrics: seconds with a fraction, exemplars skipped, `# EOF`; a histogram and a
    /// summary are series like any other.
    @Test func openMetricsTextWithHistogramsSummariesAndExemplars() {
        let text = """
            # TYPE http_request_duration_seconds histogram
            # UNIT http_request_duration_seconds seconds
            http_request_duration_seconds_bucket{le="0.1"} 8 1799999990.5
            http_request_duration_seconds_bucket{le="0.5"} 11 1799999990.5 # {trace_id="abc"} 0.31 1799999990.1
            http_request_duration_seconds_bucket{le="+Inf"} 12 # {trace_id="def"} 2.5
            http_request_duration_seconds_count 12
            http_request_duration_seconds_sum 3.7
            http_request_duration_seconds_created 1799999000.0
            rpc_latency_seconds{quantile="0.99"} 0.7
            bad_ts 1 17999x
            # EOF
            """
        let r = Array(text.utf8).withUnsafeBytes { PrometheusTextParser.parse($0, rules: rules, openMetrics: true) }
        #expect(r.accepted == 7)
        let s = r.batch.samples
        #expect(s[0].labels == ["le": "0.1"])
        #expect(r.batch.points[0].time == 1_799_999_990_500_000, "seconds with a fraction")
        #expect(s[1].value == 11, "the exemplar's value is not the sample's")
        #expect(s[2].labels == ["le": "+Inf"])
        #expect(r.batch.points[2].time == nowMicros)
        #expect(s[6].labels == ["quantile": "0.99"])
        #expect(r.rejected.map(\.item) == [10])
        // The Prometheus text format has no exemplars: there it is text after the timestamp.
        let plain = prometheus(#"x_bucket{le="1"} 3 1799999990000 # {trace_id="abc"} 0.3"# + "\n")
        #expect(plain.accepted == 0)
        #expect(plain.rejected.first?.reason == "unexpected text after the timestamp")
    }

    @Test func influxLineProtocol() {
        let r = influx(
            """
            weather,city=oslo,station=n\\ 1 temperature=3.5,humidity=80i,raining=t 1800000000000000000
            weather,city=oslo value=7 1800000000000000000
            cpu usage=0.5
            weather,city=oslo note="it rains"
            weather,city=oslo
            weather temperature=abc 1800000000000000000
            """
        )
        #expect(r.accepted == 5)
        let s = r.batch.samples
        #expect(
            s.map(\.series) == ["weather.temperature", "weather.humidity", "weather.raining", "weather", "cpu.usage"]
        )
        #expect(s[0].labels == ["city": "oslo", "station": "n 1"])
        #expect(s[1].value == 80)
        #expect(s[2].value == 1)
        #expect(r.batch.points[0].time == 1_800_000_000_000_000)
        #expect(r.batch.points[4].time == nowMicros)
        #expect(r.rejected.map(\.item) == [4, 5, 6])
        #expect(r.rejected[0].reason.contains("is a string"))
    }

    @Test func influxPrecision() {
        let r = influx("m v=1 1800000000\n", precision: .s)
        #expect(r.batch.points.first?.time == 1_800_000_000_000_000)
        let ms = influx("m v=1 1800000000123\n", precision: .ms)
        #expect(ms.batch.points.first?.time == 1_800_000_000_123_000)
    }
}
