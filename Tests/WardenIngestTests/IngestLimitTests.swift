import Foundation
import Testing
import WardenCore
import WardenIngest

/// The reproducers of the hardening pass, and the limits every format shares: no input traps or
/// overflows the stack; what does not fit is a rejection with its reason.
@Suite("Ingest limits")
struct IngestLimitTests: Parsing {
    @Test(arguments: [
        #"{"samples": [{"series": "a", "v": 1, "x": NEST}]}"#,
        #"{"samples": [NEST]}"#,
        #"{"samples": [{"series": "a", "v": 1, "labels": {"k": NEST}}]}"#,
        #"[{"series": "a", "v": 1, "t": NEST}]"#,
    ])
    func deepNestingIsAMalformedBody(template: String) {
        let nest = String(repeating: "[", count: 8000) + String(repeating: "]", count: 8000)
        let objects = String(repeating: #"{"a":"#, count: 8000) + "1" + String(repeating: "}", count: 8000)
        for inner in [nest, objects] {
            do {
                _ = try json(template.replacingOccurrences(of: "NEST", with: inner))
                Issue.record("accepted a body nested 8000 deep")
            } catch {
                #expect(error.message.contains("nested deeper than"), "\(error.message)")
            }
        }
    }

    @Test func nestingWithinTheLimitIsStillJustAnUnknownField() throws {
        let nest = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        let r = try json(#"{"samples": [{"series": "a", "v": 1, "x": \#(nest)}, {"series": "a", "v": 2}]}"#)
        #expect(r.accepted == 1)
        #expect(r.rejected.first?.field == "x")
    }

    /// Timestamps that do not fit in microseconds used to trap on the conversion.
    @Test func timestampsThatDoNotFitAreRejectedNotTrapped() {
        let s = influx("m v=1 9999999999999\n", precision: .s)
        #expect(s.accepted == 0)
        #expect(s.rejected.first?.field == "timestamp")
        #expect(s.rejected.first?.reason.contains("out of range") == true)
        let ms = influx("m v=1 \(Int64.max)\n", precision: .ms)
        #expect(ms.rejected.first?.reason.contains("out of range") == true)
        let ns = influx("m v=1 \(Int64.max)\nm v=1 \(Int64.min)\n", precision: .ns)
        #expect(ns.accepted == 0)
        #expect(
            ns.rejected.map(\.reason) == [
                "the time is too far in the future", "the time is older than the retention of raw samples allows",
            ]
        )
        let p = prometheus("m 1 9223372036854775807\nm 1 -9223372036854775808\nm 1 99999999999999999999\n")
        #expect(p.accepted == 0)
        #expect(p.rejected.count == 3)
        #expect(p.rejected.allSatisfy { $0.field == "timestamp" })
        for text in [
            #"[{"series":"a","v":1,"t":1e300}]"#, #"[{"series":"a","v":1,"t":-1e300}]"#,
            #"[{"series":"a","v":1,"t":"9999-12-31T23:59:59Z"}]"#,
        ] {
            let r = try? json(text)
            #expect(r?.accepted == 0)
            #expect(r?.rejected.first?.field == "t")
        }
    }

    /// A tag given twice made two different series keys with the same stored labels: a 500.
    @Test func aRepeatedLabelIsRejectedInEveryFormat() throws {
        let i = influx("m,host=a,host=b v=1\n")
        #expect(i.accepted == 0)
        #expect(i.rejected.first?.reason == "label 'host' appears twice")
        let p = prometheus("m{host=\"a\",host=\"b\"} 1\n")
        #expect(p.rejected.first?.reason == "label 'host' appears twice")
        let j = try json(#"[{"series":"m","v":1,"labels":{"host":"a","host":"b"}}]"#)
        #expect(j.rejected.first?.reason == "label 'host' appears twice")
    }

    /// A series with 20,000 labels and a 900 KB label value used to be stored from the text formats.
    @Test func labelCountAndSizeAreCappedInEveryFormat() throws {
        let many = (0..<20_000).map { "l\($0)" }
        let prom = prometheus("m{" + many.map { "\($0)=\"x\"" }.joined(separator: ",") + "} 1\n")
        #expect(prom.accepted == 0)
        #expect(prom.rejected.first?.reason == "more than 32 labels (samples.max_labels)")
        let flux = influx("m," + many.map { "\($0)=x" }.joined(separator: ",") + " v=1\n")
        #expect(flux.rejected.first?.reason == "more than 32 labels (samples.max_labels)")
        let object = "{" + many.map { "\"\($0)\":\"x\"" }.joined(separator: ",") + "}"
        let j = try json(#"[{"series":"m","v":1,"labels":\#(object)}]"#)
        #expect(j.rejected.first?.reason == "more than 32 labels (samples.max_labels)")

        let huge = String(repeating: "v", count: 900 * 1024)
        let reason = "the value of label 'k' is longer than 1024 bytes (samples.max_label_value)"
        #expect(prometheus("m{k=\"\(huge)\"} 1\n").rejected.first?.reason == reason)
        #expect(influx("m,k=\(huge) v=1\n").rejected.first?.reason == reason)
        #expect(try json(#"[{"series":"m","v":1,"labels":{"k":"\#(huge)"}}]"#).rejected.first?.reason == reason)

        // Exactly at the limits goes in.
        let limit = (0..<32).map { "l\($0)=\"\(String(repeating: "x", count: 1024))\"" }.joined(separator: ",")
        #expect(prometheus("m{\(limit)} 1\n").accepted == 1)
    }

    @Test func theLimitsComeFromTheSpec() {
        var custom = IngestRules(now: now, maxAge: .seconds(86400), maxFuture: .seconds(600))
        custom.maxLabels = 2
        custom.maxLabelValue = 4
        let r = Array("a{x=\"1\",y=\"2\"} 1\nb{x=\"1\",y=\"2\",z=\"3\"} 1\nc{x=\"12345\"} 1\n".utf8).withUnsafeBytes {
            PrometheusTextParser.parse($0, rules: custom)
        }
        #expect(r.accepted == 1)
        #expect(r.rejected.map(\.item) == [2, 3])
    }

    @Test func refusedSeriesTakeTheirPointsOutWithTheirOrigin() throws {
        var r = try json(
            #"[{"series":"a","v":1},{"series":"b","v":2},{"series":"a","v":3},{"series":"c","v":4}]"#
        )
        let flags = r.batch.series.map { $0.name != "b" }
        #expect(r.refuse(series: flags, reason: "full") == 1)
        #expect(r.accepted == 3)
        #expect(r.batch.samples.map(\.value) == [1, 3, 4])
        #expect(r.rejected == [IngestResult.Rejection(item: 1, field: "series", reason: "full")])
        #expect(r.origins == [0, 2, 3])
    }
}
