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
            while true {
                p.skipSpace()
                if p.peek == UInt8(ascii: "}") {
                    p.advance()
                    break
                }
                if !first {
                    try p.expect(UInt8(ascii: ","))
                    p.skipSpace()
                }
                first = false
                let key = try p.string()
                p.skipSpace()
                try p.expect(UInt8(ascii: ":"))
                p.skipSpace()
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
        p.skipSpace()
        if p.peek == UInt8(ascii: "]") {
            p.advance()
            return
        }
        while true {
            p.skipSpace()
            try item(&p, index: index, &result, rules)
            index += 1
            p.skipSpace()
            if p.peek == UInt8(ascii: ",") {
                p.advance()
                continue
            }
            try p.expect(UInt8(ascii: "]"))
            return
        }
    }

    private static func item(
        _ p: inout JSONScanner,
        index: Int,
        _ result: inout IngestResult,
        _ rules: IngestRules
    ) throws(MalformedBody) {
        guard p.peek == UInt8(ascii: "{") else {
            try p.skipValue()
            result.rejected.append(
                .init(item: index, field: nil, reason: "a sample must be an object with series, labels, t and v")
            )
            return
        }
        p.advance()
        var name: String?
        var labels: [SeriesKey.Label] = []
        var time: Int64?
        var value: Double?
        var problem: (String?, String)?
        var first = true
        while true {
            p.skipSpace()
            if p.peek == UInt8(ascii: "}") {
                p.advance()
                break
            }
            if !first {
                try p.expect(UInt8(ascii: ","))
                p.skipSpace()
            }
            first = false
            let key = try p.string()
            p.skipSpace()
            try p.expect(UInt8(ascii: ":"))
            p.skipSpace()
            switch key {
            case "series":
                if p.peek == UInt8(ascii: "\"") {
                    let s = try p.string()
                    if SampleRules.isValidSeriesName(s) {
                        name = s
                    } else if problem == nil {
                        problem = (
                            "series",
                            "'\(s.prefix(80))' is not a valid series name (letters, digits, _ : and ., not starting with a digit)"
                        )
                    }
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("series", "must be a string") }
                }
            case "labels":
                if p.peek == UInt8(ascii: "{") {
                    if let bad = try labelObject(&p, into: &labels), problem == nil { problem = ("labels", bad) }
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("labels", "must be an object of string values") }
                }
            case "t":
                if p.peek == UInt8(ascii: "\"") {
                    let s = try p.string()
                    if let d = try? Date(s, strategy: .iso8601) {
                        time = Int64((d.timeIntervalSince1970 * 1e6).rounded())
                    } else if problem == nil {
                        problem = (
                            "t",
                            "'\(s.prefix(40))' is not an ISO 8601 time; use seconds since the epoch or 2026-01-02T03:04:05Z"
                        )
                    }
                } else if let seconds = try p.numberOrNil() {
                    if seconds.isFinite && abs(seconds) < 1e11 {
                        time = Int64((seconds * 1e6).rounded())
                    } else if problem == nil {
                        problem = ("t", "must be seconds since the epoch")
                    }
                } else {
                    try p.skipValue()
                    if problem == nil {
                        problem = ("t", "must be a number of seconds since the epoch or an ISO 8601 string")
                    }
                }
            case "v":
                if let v = try p.numberOrNil() {
                    value = v
                } else {
                    try p.skipValue()
                    if problem == nil { problem = ("v", "must be a finite number") }
                }
            default:
                try p.skipValue()
                if problem == nil { problem = (key, "unknown field '\(key)'; a sample has series, labels, t and v") }
            }
        }
        if let problem {
            result.rejected.append(.init(item: index, field: problem.0, reason: problem.1))
            return
        }
        guard let name else {
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
        result.batch.append(SeriesKey(name: name, labels: labels), time: t, value: value)
    }

    /// Reads a labels object; returns a problem (the object is still consumed) or nil.
    private static func labelObject(
        _ p: inout JSONScanner,
        into labels: inout [SeriesKey.Label]
    ) throws(MalformedBody) -> String? {
        try p.expect(UInt8(ascii: "{"))
        var problem: String?
        var first = true
        var names = Set<String>()
        while true {
            p.skipSpace()
            if p.peek == UInt8(ascii: "}") {
                p.advance()
                return problem
            }
            if !first {
                try p.expect(UInt8(ascii: ","))
                p.skipSpace()
            }
            first = false
            let key = try p.string()
            p.skipSpace()
            try p.expect(UInt8(ascii: ":"))
            p.skipSpace()
            guard p.peek == UInt8(ascii: "\"") else {
                try p.skipValue()
                problem = problem ?? "the value of label '\(key)' must be a string"
                continue
            }
            let value = try p.string()
            if !SampleRules.isValidLabelName(key) {
                problem = problem ?? "'\(key.prefix(80))' is not a valid label name (letters, digits and _)"
            } else if value.utf8.count > SampleRules.maxLabelValue {
                problem = problem ?? "the value of label '\(key)' is longer than \(SampleRules.maxLabelValue) bytes"
            } else if !names.insert(key).inserted {
                problem = problem ?? "label '\(key)' appears twice"
            } else {
                labels.append(SeriesKey.Label(key, value))
            }
            if labels.count > SampleRules.maxLabels { problem = problem ?? "more than \(SampleRules.maxLabels) labels" }
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
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\") else { throw error("lone surrogate") }
                        i += 1
                        try expect(UInt8(ascii: "u"))
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("bad surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
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

    private mutating func hex4() throws(MalformedBody) -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            i += 1
            v <<= 4
            switch b {
            case 48...57: v |= UInt32(b - 48)
            case 97...102: v |= UInt32(b - 87)
            case 65...70: v |= UInt32(b - 55)
            default: throw error("bad hex digit in \\u escape")
            }
        }
        return v
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
        if peek == UInt8(ascii: ".") {
            simple = false
            i += 1
            guard (48...57).contains(peek) else { throw error("a digit must follow the decimal point") }
            while (48...57).contains(peek) { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            simple = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard (48...57).contains(peek) else { throw error("a digit must follow the exponent") }
            while (48...57).contains(peek) { i += 1 }
        }
        if simple { return Double(bytes[start] == UInt8(ascii: "-") ? -integer : integer) }
        return Self.strtod(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
    }

    static func strtod(_ text: UnsafeRawBufferPointer) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: text.count + 1) { buffer in
            for (k, b) in text.enumerated() { buffer[k] = CChar(bitPattern: b) }
            buffer[text.count] = 0
            return Glibc.strtod(buffer.baseAddress!, nil)
        }
    }

    /// Skips any JSON value, checking its syntax.
    mutating func skipValue() throws(MalformedBody) {
        skipSpace()
        switch peek {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            i += 1
            skipSpace()
            if peek == UInt8(ascii: "}") {
                i += 1
                return
            }
            while true {
                skipSpace()
                _ = try string()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                try skipValue()
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return
            }
        case UInt8(ascii: "["):
            i += 1
            skipSpace()
            if peek == UInt8(ascii: "]") {
                i += 1
                return
            }
            while true {
                try skipValue()
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return
            }
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
