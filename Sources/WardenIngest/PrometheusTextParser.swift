import Foundation
import WardenCore

/// Parses the Prometheus text exposition format (version 0.0.4):
/// `name{label="value",…} value [timestamp_ms]`, with `#` comments (HELP, TYPE) ignored.
///
/// With `openMetrics`, OpenMetrics 1.0's text format instead: timestamps in seconds (with a
/// fraction), exemplars (`… # {trace_id="…"} 0.3`) skipped, `# EOF` a comment like any other.
/// Histograms (`_bucket{le=…}`, `_count`, `_sum`) and summaries (`{quantile=…}`) are series
/// like any other in both.
///
/// Each line is a sample; a bad line is rejected with its line number and the rest go in.
/// `NaN` and `±Inf` are valid in the format but not in Warden's store, so such lines are rejected.
public enum PrometheusTextParser {
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        rules: IngestRules,
        openMetrics: Bool = false
    )
        -> IngestResult
    {
        var result = IngestResult()
        IngestLines.forEach(in: bytes) { text, line in parseLine(text, line: line, &result, rules, openMetrics) }
        return result
    }

    private static func parseLine(
        _ b: UnsafeRawBufferPointer,
        line: Int,
        _ result: inout IngestResult,
        _ rules: IngestRules,
        _ openMetrics: Bool
    ) {
        var i = 0
        func skipSpace() { while i < b.count && (b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D) { i += 1 } }
        skipSpace()
        if i >= b.count || b[i] == UInt8(ascii: "#") { return }
        func reject(_ field: String?, _ reason: String) {
            result.rejected.append(.init(item: line, field: field, reason: reason))
        }
        let nameStart = i
        while i < b.count && b[i] != UInt8(ascii: "{") && b[i] != 0x20 && b[i] != 0x09 { i += 1 }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameStart..<i]), as: UTF8.self)
        guard SampleRules.isValidSeriesName(name) else {
            return reject("name", "'\(name.prefix(80))' is not a valid metric name")
        }
        var labels = LabelCollector()
        if i < b.count && b[i] == UInt8(ascii: "{") {
            i += 1
            while true {
                skipSpace()
                guard i < b.count else { return reject("labels", "the label set is not closed with '}'") }
                if b[i] == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                let ls = i
                while i < b.count && b[i] != UInt8(ascii: "=") && b[i] != 0x20 { i += 1 }
                let lname = String(decoding: UnsafeRawBufferPointer(rebasing: b[ls..<i]), as: UTF8.self)
                skipSpace()
                guard i < b.count && b[i] == UInt8(ascii: "=") else {
                    return reject("labels", "expected '=' after label '\(lname.prefix(80))'")
                }
                i += 1
                skipSpace()
                guard i < b.count && b[i] == UInt8(ascii: "\"") else {
                    return reject("labels", "the value of label '\(lname.prefix(80))' must be quoted")
                }
                i += 1
                var value = [UInt8]()
                var closed = false
                while i < b.count {
                    let c = b[i]
                    i += 1
                    if c == UInt8(ascii: "\\"), i < b.count {
                        let e = b[i]
                        i += 1
                        value.append(e == UInt8(ascii: "n") ? 0x0A : e)
                    } else if c == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { return reject("labels", "the value of label '\(lname.prefix(80))' is not closed") }
                labels.add(lname, valueBytes: value.count, rules: rules) { String(decoding: value, as: UTF8.self) }
                if let problem = labels.problem { return reject("labels", problem) }
                skipSpace()
                if i < b.count && b[i] == UInt8(ascii: ",") { i += 1 }
            }
        }
        skipSpace()
        let vs = i
        while i < b.count && b[i] != 0x20 && b[i] != 0x09 && b[i] != 0x0D { i += 1 }
        let valueText = String(decoding: UnsafeRawBufferPointer(rebasing: b[vs..<i]), as: UTF8.self)
        guard let value = Double(valueText) ?? special(valueText) else {
            return reject("value", valueText.isEmpty ? "missing value" : "'\(valueText.prefix(40))' is not a number")
        }
        if let why = rules.problem(value: value) { return reject("value", why) }
        skipSpace()
        var time = rules.now
        // OpenMetrics: an exemplar after the value (or the timestamp) is not a sample of the series.
        let exemplar = { openMetrics && i < b.count && b[i] == UInt8(ascii: "#") }
        if i < b.count, !exemplar() {
            let ts = i
            while i < b.count && b[i] != 0x20 && b[i] != 0x0D { i += 1 }
            let tsText = String(decoding: UnsafeRawBufferPointer(rebasing: b[ts..<i]), as: UTF8.self)
            if openMetrics {
                guard let seconds = Double(tsText), abs(seconds) < 1e11,
                    let micros = IngestRules.micros(seconds: seconds)
                else {
                    return reject("timestamp", "'\(tsText.prefix(40))' is not a timestamp in seconds since the epoch")
                }
                time = micros
            } else {
                guard let ms = Int64(tsText) else {
                    return reject("timestamp", "'\(tsText.prefix(40))' is not a timestamp in milliseconds")
                }
                guard let micros = IngestRules.micros(ms, unitMicros: 1000) else {
                    return reject("timestamp", "'\(tsText.prefix(40))' is out of range (milliseconds since the epoch)")
                }
                time = micros
            }
            skipSpace()
            if i < b.count, !exemplar() { return reject(nil, "unexpected text after the timestamp") }
        }
        if let why = rules.problem(time: time) { return reject("timestamp", why) }
        result.append(SeriesKey(name: name, labels: labels.labels), time: time, value: value, origin: line)
    }

    private static func special(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return nil
        }
    }
}
