import Foundation
import WardenCore

/// Parses InfluxDB line protocol: `measurement[,tag=value…] field=value[,field=value…] [timestamp]`.
///
/// Each numeric field becomes a series `measurement.field` (just `measurement` for a field named
/// `value`) labelled with the tags. Floats, integers (`12i`), unsigned (`12u`) and booleans are
/// accepted; string fields are rejected (they are not telemetry values). Backslash escapes of
/// commas, spaces and `=` work as in InfluxDB.
public enum InfluxLineParser {
    /// Timestamp units.
    public enum Precision: String, Sendable, CaseIterable {
        case ns, us, ms, s
        /// Microseconds per unit (nanoseconds are divided instead).
        var micros: Int64 {
            switch self {
            case .ns, .us: return 1
            case .ms: return 1000
            case .s: return 1_000_000
            }
        }
    }

    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        precision: Precision = .ns,
        rules: IngestRules
    ) -> IngestResult {
        var result = IngestResult()
        IngestLines.forEach(in: bytes) { text, line in parseLine(text, line: line, precision, &result, rules) }
        return result
    }

    /// Splits at unescaped `separator` outside double quotes.
    private static func split(_ b: UnsafeRawBufferPointer, _ separator: UInt8, max: Int = .max) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = 0
        var i = 0
        var quoted = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if c == UInt8(ascii: "\"") { quoted.toggle() }
            if c == separator && !quoted && parts.count < max - 1 {
                parts.append(start..<i)
                start = i + 1
            }
            i += 1
        }
        parts.append(start..<min(i, b.count))
        return parts
    }

    private static func unescape(_ b: UnsafeRawBufferPointer) -> String {
        guard b.contains(UInt8(ascii: "\\")) else { return String(decoding: b, as: UTF8.self) }
        var out = [UInt8]()
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
                out.append(b[i + 1])
                i += 2
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func parseLine(
        _ raw: UnsafeRawBufferPointer,
        line: Int,
        _ precision: Precision,
        _ result: inout IngestResult,
        _ rules: IngestRules
    ) {
        var lo = 0
        var hi = raw.count
        while lo < hi && (raw[lo] == 0x20 || raw[lo] == 0x09) { lo += 1 }
        while hi > lo && (raw[hi - 1] == 0x20 || raw[hi - 1] == 0x0D || raw[hi - 1] == 0x09) { hi -= 1 }
        if lo >= hi || raw[lo] == UInt8(ascii: "#") { return }
        let b = UnsafeRawBufferPointer(rebasing: raw[lo..<hi])
        func reject(_ field: String?, _ reason: String) {
            result.rejected.append(.init(item: line, field: field, reason: reason))
        }
        let sections = split(b, 0x20)
        guard sections.count == 2 || sections.count == 3 else {
            return reject(nil, "expected 'measurement[,tags] fields [timestamp]'")
        }
        let head = UnsafeRawBufferPointer(rebasing: b[sections[0]])
        let headParts = split(head, UInt8(ascii: ","))
        let measurement = unescape(UnsafeRawBufferPointer(rebasing: head[headParts[0]]))
        guard !measurement.isEmpty else { return reject("measurement", "missing measurement") }
        var labels = LabelCollector()
        for part in headParts.dropFirst() {
            let tag = UnsafeRawBufferPointer(rebasing: head[part])
            let kv = split(tag, UInt8(ascii: "="), max: 2)
            guard kv.count == 2 else { return reject("tags", "tag '\(unescape(tag).prefix(60))' has no '='") }
            let name = unescape(UnsafeRawBufferPointer(rebasing: tag[kv[0]]))
            let valueBytes = UnsafeRawBufferPointer(rebasing: tag[kv[1]])
            labels.add(name, valueBytes: valueBytes.count, rules: rules) { unescape(valueBytes) }
            if let problem = labels.problem { return reject("tags", problem) }
        }
        var time = rules.now
        if sections.count == 3 {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[sections[2]]), as: UTF8.self)
            guard let ts = Int64(text) else {
                return reject("timestamp", "'\(text.prefix(40))' is not an integer timestamp")
            }
            guard let micros = IngestRules.micros(ts, nanoseconds: precision == .ns, unitMicros: precision.micros)
            else {
                return reject("timestamp", "'\(text.prefix(40))' is out of range for precision=\(precision.rawValue)")
            }
            time = micros
        }
        if let why = rules.problem(time: time) { return reject("timestamp", why) }
        let fieldsBytes = UnsafeRawBufferPointer(rebasing: b[sections[1]])
        var parsed: [(String, Double)] = []
        for part in split(fieldsBytes, UInt8(ascii: ",")) {
            let field = UnsafeRawBufferPointer(rebasing: fieldsBytes[part])
            let kv = split(field, UInt8(ascii: "="), max: 2)
            guard kv.count == 2 else { return reject("fields", "field '\(unescape(field).prefix(60))' has no '='") }
            let name = unescape(UnsafeRawBufferPointer(rebasing: field[kv[0]]))
            let valueText = String(decoding: UnsafeRawBufferPointer(rebasing: field[kv[1]]), as: UTF8.self)
            guard let value = fieldValue(valueText) else {
                if valueText.hasPrefix("\"") {
                    return reject("fields", "field '\(name)' is a string; only numbers and booleans are telemetry")
                }
                return reject(
                    "fields",
                    "field '\(name)' has the value '\(valueText.prefix(40))', which is not a number"
                )
            }
            if let why = rules.problem(value: value) { return reject("fields", "field '\(name)': \(why)") }
            let series = name == "value" ? measurement : "\(measurement).\(name)"
            guard SampleRules.isValidSeriesName(series) else {
                return reject("fields", "'\(series.prefix(80))' is not a valid series name")
            }
            parsed.append((series, value))
        }
        guard !parsed.isEmpty else { return reject("fields", "a line needs at least one field") }
        for (series, value) in parsed {
            result.append(SeriesKey(name: series, labels: labels.labels), time: time, value: value, origin: line)
        }
    }

    private static func fieldValue(_ text: String) -> Double? {
        switch text {
        case "t", "T", "true", "True", "TRUE": return 1
        case "f", "F", "false", "False", "FALSE": return 0
        default: break
        }
        if text.hasSuffix("i") || text.hasSuffix("u") { return Int64(text.dropLast()).map(Double.init) }
        return Double(text)
    }
}
