import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Parses `{"samples": [{"series", "labels", "t", "v"}, …]}` (or a bare array of such items).
///
/// A byte-level parser: it validates the JSON fully but builds only what a sample needs, so a
/// batch of a thousand samples costs microseconds, not milliseconds. A syntax error anywhere
/// rejects the body (``MalformedBody``); a well-formed item with bad fields is rejected alone.
/// `t` is seconds since the epoch (a number, fractions allowed) or an ISO 8601 string; without
/// it the sample is stamped with the time of the request.
public enum JSONSampleParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer, rules: IngestRules) throws(MalformedBody) -> IngestResult
    {
        var p = JSONScanner(bytes)
        var result = IngestResult()
        p.skipSpace()
        if p.peek == UInt8(ascii: "[") {
            try items(&p, &result, rules)
        } else if p.peek == UInt8(ascii: "{") {
            p.advance()
            var sawSamples = false
            var first = true
            while try p.nextEntry(&first, closing: UInt8(ascii: "}")) {
                let key = try p.string()
                try p.colon()
                guard key == "samples" else {
                    throw MalformedBody(message: "unknown field '\(key)'; the body is {\"samples\": [...]}", field: key)
                }
                guard p.peek == UInt8(ascii: "[") else {
                    throw MalformedBody(message: "'samples' must be an array of samples", field: "samples")
                }
                try items(&p, &result, rules)
                sawSamples = true
            }
            if !sawSamples { throw MalformedBody(message: "missing field 'samples'", field: "samples") }
        } else {
            throw p.error("expected an object {\"samples\": [...]} or an array of samples")
        }
        p.skipSpace()
        if !p.atEnd { throw p.error("unexpected data after the end of the JSON value") }
        return result
    }

    private static func items(
        _ p: inout JSONScanner,
        _ result: inout IngestResult,
        _ rules: IngestRules
    ) throws(MalformedBody) {
        try p.expect(UInt8(ascii: "["))
        var index = 0
        var memo = SeriesMemo()
        var first = true
        while try p.nextEntry(&first, closing: UInt8(ascii: "]")) {
            try item(&p, index: index, &result, rules, &memo)
            index += 1
        }
    }

    /// Recently seen series of one request, by the raw bytes of their `series` and `labels`
    /// values: a batch usually repeats a few series many times, and a repeat costs a byte
    /// comparison instead of decoding, validating and hashing strings again.
    struct SeriesMemo {
        var entries: [UInt64: [(series: Range<Int>, labels: Range<Int>?, index: Int32)]] = [:]
    }

    private static func item(
        _ p: inout JSONScanner,
        index: Int,
        _ result: inout IngestResult,
        _ rules: IngestRules,
        _ memo: inout SeriesMemo
    ) throws(MalformedBody) {
        guard p.peek == UInt8(ascii: "{") else {
            try p.skipValue()
            result.rejected.append(
                .init(item: index, field: nil, reason: "a sample must be an object with series, labels, t and v")
            )
            return
        }
        p.advance()
        var seriesRange: Range<Int>?
        var labelsRange: Range<Int>?
        var time: Int64?
        var value: Double?
        var problem: (String?, String)?
        var first = true
        while try p.nextEntry(&first, closing: UInt8(ascii: "}")) {
            let key = try p.fieldName()
            try p.colon()
            switch key {
            case .series:
                let start = p.i
                if p.peek == UInt8(ascii: "\"") {
                    try p.skipString()
                    seriesRange = start..<p.i
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("series", "must be a string") }
                }
            case .labels:
                let start = p.i
                if p.peek == UInt8(ascii: "{") {
                    try p.skipValue()
                    labelsRange = start..<p.i
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("labels", "must be an object of string values") }
                }
            case .t:
                if p.peek == UInt8(ascii: "\"") {
                    let s = try p.string()
                    if let d = ISOTime.parse(s), let micros = IngestRules.micros(seconds: d.timeIntervalSince1970) {
                        time = micros
                    } else if problem == nil {
                        problem = (
                            "t",
                            "'\(s.prefix(40))' is not an ISO 8601 time; use seconds since the epoch or 2026-01-02T03:04:05Z"
                        )
                    }
                } else if let seconds = try p.numberOrNil() {
                    if abs(seconds) < 1e11, let micros = IngestRules.micros(seconds: seconds) {
                        time = micros
                    } else if problem == nil {
                        problem = ("t", "must be seconds since the epoch")
                    }
                } else {
                    try p.skipValue()
                    if problem == nil {
                        problem = ("t", "must be a number of seconds since the epoch or an ISO 8601 string")
                    }
                }
            case .v:
                if let v = try p.numberOrNil() {
                    value = v
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("v", "must be a finite number") }
                }
            case .other(let name):
                try p.skipValue()
                if problem == nil { problem = (name, "unknown field '\(name)'; a sample has series, labels, t and v") }
            }
        }
        if let problem {
            result.rejected.append(.init(item: index, field: problem.0, reason: problem.1))
            return
        }
        guard let seriesRange else {
            result.rejected.append(.init(item: index, field: "series", reason: "missing field 'series'"))
            return
        }
        guard let value else {
            result.rejected.append(.init(item: index, field: "v", reason: "missing field 'v'"))
            return
        }
        if let why = rules.problem(value: value) {
            result.rejected.append(.init(item: index, field: "v", reason: why))
            return
        }
        let t = time ?? rules.now
        if let why = rules.problem(time: t) {
            result.rejected.append(.init(item: index, field: "t", reason: why))
            return
        }
        // The series: from the memo when these exact bytes were seen before in this request.
        let hash = p.hash(seriesRange) &* 31 &+ (labelsRange.map { p.hash($0) } ?? 0)
        if let hit = memo.entries[hash]?.first(where: {
            p.same($0.series, seriesRange) && p.same($0.labels, labelsRange)
        }) {
            result.append(SampleBatch.Point(series: hit.index, time: t, value: value), origin: index)
            return
        }
        var sub = JSONScanner(p.bytes)
        sub.i = seriesRange.lowerBound
        let name = try sub.string()
        guard SampleRules.isValidSeriesName(name) else {
            result.rejected.append(
                .init(
                    item: index,
                    field: "series",
                    reason:
                        "'\(name.prefix(80))' is not a valid series name (letters, digits, _ : and ., not starting with a digit)"
                )
            )
            return
        }
        var labels = LabelCollector()
        if let labelsRange {
            sub.i = labelsRange.lowerBound
            try labelObject(&sub, into: &labels, rules)
            if let bad = labels.problem {
                result.rejected.append(.init(item: index, field: "labels", reason: bad))
                return
            }
        }
        let seriesIndex = result.batch.seriesIndex(SeriesKey(name: name, labels: labels.labels))
        memo.entries[hash, default: []].append((seriesRange, labelsRange, seriesIndex))
        result.append(SampleBatch.Point(series: seriesIndex, time: t, value: value), origin: index)
    }

    /// Reads a labels object into `labels`, which keeps the first problem (the object is still
    /// consumed whole).
    private static func labelObject(
        _ p: inout JSONScanner,
        into labels: inout LabelCollector,
        _ rules: IngestRules
    ) throws(MalformedBody) {
        try p.expect(UInt8(ascii: "{"))
        var first = true
        while try p.nextEntry(&first, closing: UInt8(ascii: "}")) {
            let key = try p.string()
            try p.colon()
            guard p.peek == UInt8(ascii: "\"") else {
                try p.skipValue()
                labels.fail("the value of label '\(key.prefix(80))' must be a string")
                continue
            }
            let value = try p.string()
            labels.add(key, valueBytes: value.utf8.count, rules: rules) { value }
        }
    }
}

/// A cursor over JSON bytes with just the operations the sample parser needs.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { i >= bytes.count }
    var peek: UInt8 { i < bytes.count ? bytes[i] : 0 }

    mutating func advance() { i += 1 }

    func error(_ message: String) -> MalformedBody {
        MalformedBody(message: "malformed JSON at byte \(i): \(message)")
    }

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    /// The fields a sample has, recognised without allocating.
    enum Field {
        case series, labels, t, v
        case other(String)
    }

    /// Reads an object key.
    mutating func fieldName() throws(MalformedBody) -> Field {
        let start = i
        try skipString()
        let raw = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(i - 1)])
        switch raw.count {
        case 1 where raw[0] == UInt8(ascii: "t"): return .t
        case 1 where raw[0] == UInt8(ascii: "v"): return .v
        case 6 where raw.elementsEqual("series".utf8): return .series
        case 6 where raw.elementsEqual("labels".utf8): return .labels
        default:
            var again = JSONScanner(bytes)
            again.i = start
            return .other(try again.string())
        }
    }

    /// Skips a string token, checking its escapes.
    mutating func skipString() throws(MalformedBody) {
        try expect(UInt8(ascii: "\""))
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return
            }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { throw error("unfinished escape") }
                let e = bytes[i + 1]
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    // Validated properly when the string is decoded; here only its length.
                    guard i + 6 <= bytes.count else { throw error("short \\u escape") }
                    i += 6
                default:
                    throw error("bad escape")
                }
                continue
            }
            if b < 0x20 { throw error("control character in a string") }
            i += 1
        }
        throw error("unterminated string")
    }

    /// FNV-1a of a byte range.
    func hash(_ range: Range<Int>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for k in range { h = (h ^ UInt64(bytes[k])) &* 0x100_0000_01b3 }
        return h
    }

    /// Whether two byte ranges (either may be absent) hold the same bytes.
    func same(_ a: Range<Int>?, _ b: Range<Int>?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a.count == b.count else { return false }
        if a == b { return true }
        return memcmp(bytes.baseAddress! + a.lowerBound, bytes.baseAddress! + b.lowerBound, a.count) == 0
    }

    /// Moves to the next entry of an object or array whose opening bracket was read: true at an
    /// entry, false once past the closing bracket. Commas go between entries only (none leads or
    /// trails).
    mutating func nextEntry(_ first: inout Bool, closing: UInt8) throws(MalformedBody) -> Bool {
        skipSpace()
        if peek == closing {
            i += 1
            return false
        }
        if first {
            first = false
        } else {
            try expect(UInt8(ascii: ","))
            skipSpace()
        }
        return true
    }

    /// Reads the `:` after an object's key, and the spaces around it.
    mutating func colon() throws(MalformedBody) {
        skipSpace()
        try expect(UInt8(ascii: ":"))
        skipSpace()
    }

    mutating func expect(_ byte: UInt8) throws(MalformedBody) {
        guard peek == byte else {
            throw error(
                atEnd
                    ? "unexpected end, expected '\(Character(Unicode.Scalar(byte)))'"
                    : "expected '\(Character(Unicode.Scalar(byte)))'"
            )
        }
        i += 1
    }

    /// A string, unescaped.
    mutating func string() throws(MalformedBody) -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in a string") }
            i += 1
        }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw error("unfinished escape") }
                let e = bytes[i]
                i += 1
                if let byte = JSONEscape.byte(e) {
                    out.append(byte)
                    continue
                }
                switch e {
                case UInt8(ascii: "u"):
                    switch JSONEscape.unicode(bytes, at: i, into: &out) {
                    case .success(let next): i = next
                    case .failure(let problem): throw error(problem.message)
                    }
                default:
                    throw error("bad escape")
                }
            default:
                if b < 0x20 { throw error("control character in a string") }
                out.append(b)
            }
        }
        throw error("unterminated string")
    }

    /// A number, or nil (nothing consumed) when the next value is not a number.
    mutating func numberOrNil() throws(MalformedBody) -> Double? {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard (48...57).contains(peek) else {
            i = start
            return nil
        }
        // Integers (the common case for timestamps in ms or counters) without strtod.
        var integer: Int64 = 0
        var digits = 0
        while (48...57).contains(peek) {
            if digits < 18 { integer = integer * 10 + Int64(peek - 48) }
            digits += 1
            i += 1
        }
        var simple = digits <= 18
        var fractionDigits = 0
        if peek == UInt8(ascii: ".") {
            i += 1
            guard (48...57).contains(peek) else { throw error("a digit must follow the decimal point") }
            while (48...57).contains(peek) {
                if digits < 18 { integer = integer * 10 + Int64(peek - 48) }
                digits += 1
                fractionDigits += 1
                i += 1
            }
            // Exact when the digits fit a double's mantissa and the power of ten is exact
            // (Clinger's fast path); otherwise strtod decides.
            simple = digits <= 18 && integer < (1 << 53) && fractionDigits <= 22
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            simple = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard (48...57).contains(peek) else { throw error("a digit must follow the exponent") }
            while (48...57).contains(peek) { i += 1 }
        }
        if simple {
            let magnitude = fractionDigits == 0 ? Double(integer) : Double(integer) / Self.powersOfTen[fractionDigits]
            return bytes[start] == UInt8(ascii: "-") ? -magnitude : magnitude
        }
        return Self.strtod(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
    }

    static let powersOfTen: [Double] = (0...22).map { Double(sign: .plus, exponent: 0, significand: 1) * pow10($0) }

    private static func pow10(_ n: Int) -> Double {
        var v = 1.0
        for _ in 0..<n { v *= 10 }
        return v
    }

    static func strtod(_ text: UnsafeRawBufferPointer) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { buffer in
            for (k, b) in text.enumerated() { buffer[k] = CChar(bitPattern: b) }
            buffer[text.count] = 0
            return Glibc.strtod(buffer.baseAddress!, nil)
        }
    }

    /// Skips any JSON value, checking its syntax. Arrays and objects may nest at most
    /// ``IngestRules/maxDepth`` levels below `depth`; deeper is malformed (and would otherwise
    /// cost a stack frame per level).
    mutating func skipValue(depth: Int = 0) throws(MalformedBody) {
        skipSpace()
        switch peek {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            guard depth < IngestRules.maxDepth else { throw error("nested deeper than \(IngestRules.maxDepth) levels") }
            i += 1
            var first = true
            while try nextEntry(&first, closing: UInt8(ascii: "}")) {
                _ = try string()
                try colon()
                try skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            guard depth < IngestRules.maxDepth else { throw error("nested deeper than \(IngestRules.maxDepth) levels") }
            i += 1
            var first = true
            while try nextEntry(&first, closing: UInt8(ascii: "]")) { try skipValue(depth: depth + 1) }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            if try numberOrNil() == nil { throw error(atEnd ? "unexpected end" : "unexpected character") }
        }
    }

    private mutating func literal(_ word: StaticString) throws(MalformedBody) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("unexpected end") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw error("unexpected character") }
        i += n
    }
}
