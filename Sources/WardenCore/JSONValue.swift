import Foundation

/// A JSON value: the payload type of events and the body of API answers.
///
/// Objects keep their keys sorted when encoded so that stored payloads are stable.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value under `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The number as an integer, when this is an integral number.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9e18: return Int64(d)
        default: return nil
        }
    }

    /// The number as a double, when this is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The boolean, when this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The fields, when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d.isFinite ? d : 0)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    /// Wraps an optional integer, mapping nil to `.null`.
    public static func int<T: BinaryInteger>(_ value: T?) -> JSONValue { value.map { .int(Int64($0)) } ?? .null }

    /// Wraps an optional string, mapping nil to `.null`.
    public static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    /// Compact JSON text with sorted keys (non-finite numbers are written as 0).
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Appends compact JSON to `out`, without Foundation's encoder.
    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if !d.isFinite {
                out += "0"
            } else if d == d.rounded(), abs(d) < 1e15 {
                out += String(Int64(d))
                out += ".0"
            } else {
                out += "\(d)"
            }
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (k, v) in a.enumerated() {
                if k > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (k, key) in o.keys.sorted().enumerated() {
                if k > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                o[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Parses JSON text; nil when it is not valid JSON.
    public static func parse(_ text: String) -> JSONValue? { parse(bytes: Array(text.utf8)) }

    /// Parses JSON bytes (UTF-8); nil when they are not valid JSON.
    public static func parse(bytes: [UInt8]) -> JSONValue? {
        var parser = JSONValueParser(bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        // Not `atEnd ? value : nil`: that nil would become JSONValue.null.
        guard parser.atEnd else { return nil }
        return value

    }
}

/// A strict recursive-descent JSON parser for ``JSONValue`` (depth-limited).
struct JSONValueParser {
    let b: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { b = bytes }

    var atEnd: Bool { i >= b.count }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard depth < 512 else { return nil }
        skipSpace()
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var fields: [String: JSONValue] = [:]
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value(depth: depth + 1) else { return nil }
                fields[key] = v
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard b[i] == UInt8(ascii: "}") else { return nil }
                i += 1
                return .object(fields)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                items.append(v)
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard b[i] == UInt8(ascii: "]") else { return nil }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""):
            return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    mutating func literal(_ word: String, _ v: JSONValue) -> JSONValue? {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { return nil }
        i += w.count
        return v
    }

    mutating func number() -> JSONValue? {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, (48...57).contains(b[i]) else { return nil }
        if b[i] == 48, i + 1 < b.count, (48...57).contains(b[i + 1]) { return nil }  // no leading zeros
        while i < b.count, (48...57).contains(b[i]) { i += 1 }
        var integral = true
        if i < b.count, b[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < b.count, (48...57).contains(b[i]) else { return nil }
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, (48...57).contains(b[i]) else { return nil }
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if integral, let v = Int64(text) { return .int(v) }
        // A number too large for a double is not one Warden can store or write back.
        guard let v = Double(text), v.isFinite else { return nil }
        return .double(v)
    }

    mutating func string() -> String? {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                if let byte = JSONEscape.byte(e) {
                    out.append(byte)
                    continue
                }
                switch e {
                case UInt8(ascii: "u"):
                    guard case .success(let next) = JSONEscape.unicode(b, at: i, into: &out) else { return nil }
                    i = next
                default: return nil
                }
            default:
                guard c >= 0x20 else { return nil }
                out.append(c)
            }
        }
        return nil
    }
}

/// JSON's string escapes, for the JSON readers.
public enum JSONEscape {
    /// The byte a one-character escape stands for (`n` for a newline, `"` for itself…), or nil
    /// for `u` and for what is not an escape.
    @inlinable
    public static func byte(_ e: UInt8) -> UInt8? {
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): e
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
    }

    /// Why a `\u` escape is not one.
    public enum UnicodeProblem: Error, Sendable {
        case short, badHexDigit, loneSurrogate, badSurrogatePair, notAScalar

        public var message: String {
            switch self {
            case .short: "short \\u escape"
            case .badHexDigit: "bad hex digit in \\u escape"
            case .loneSurrogate: "lone surrogate"
            case .badSurrogatePair: "bad surrogate pair"
            case .notAScalar: "bad \\u escape"
            }
        }
    }

    /// Decodes a `\u` escape whose four hex digits start at `i` (with the low surrogate's
    /// `\uXXXX` that must follow a high one), appends the character's UTF-8 to `out`, and returns
    /// the index after the escape.
    @inlinable
    public static func unicode<C: RandomAccessCollection<UInt8>>(
        _ bytes: C,
        at i: Int,
        into out: inout [UInt8]
    ) -> Result<Int, UnicodeProblem> where C.Index == Int {
        guard case .success(var scalar) = hex4(bytes, at: i) else { return .failure(hex4Problem(bytes, at: i)) }
        var next = i + 4
        if (0xD800...0xDBFF).contains(scalar) {
            guard next + 1 < bytes.endIndex, bytes[next] == UInt8(ascii: "\\"), bytes[next + 1] == UInt8(ascii: "u")
            else { return .failure(.loneSurrogate) }
            guard case .success(let low) = hex4(bytes, at: next + 2) else {
                return .failure(hex4Problem(bytes, at: next + 2))
            }
            guard (0xDC00...0xDFFF).contains(low) else { return .failure(.badSurrogatePair) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            next += 6
        }
        guard let u = Unicode.Scalar(scalar) else { return .failure(.notAScalar) }
        out.append(contentsOf: String(Character(u)).utf8)
        return .success(next)
    }

    @inlinable
    static func hex4<C: RandomAccessCollection<UInt8>>(_ bytes: C, at i: Int) -> Result<UInt32, UnicodeProblem>
    where C.Index == Int {
        guard i >= bytes.startIndex, i + 4 <= bytes.endIndex else { return .failure(.short) }
        var v: UInt32 = 0
        for c in bytes[i..<(i + 4)] {
            v <<= 4
            switch c {
            case 48...57: v |= UInt32(c - 48)
            case 97...102: v |= UInt32(c - 87)
            case 65...70: v |= UInt32(c - 55)
            default: return .failure(.badHexDigit)
            }
        }
        return .success(v)
    }

    @inlinable
    static func hex4Problem<C: RandomAccessCollection<UInt8>>(_ bytes: C, at i: Int) -> UnicodeProblem
    where C.Index == Int {
        if case .failure(let problem) = hex4(bytes, at: i) { return problem }
        return .short
    }
}
