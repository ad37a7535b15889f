import WardenCore

/// A dotted path into a run's context (`event.payload.alertname`, `steps.triage.output.action`,
/// `event.payload.alerts.0.labels.service`): object keys and array indexes.
public struct FlowPath: Sendable, Hashable, CustomStringConvertible {
    public var parts: [String]

    /// Nil when `text` is not 1 to 32 parts of letters, digits, `_` or `-`, joined by dots.
    public init?(_ text: some StringProtocol) {
        let parts = String(text).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, parts.count <= 32, parts.allSatisfy(Self.isPart) else { return nil }
        self.parts = parts
    }

    static func isPart(_ p: String) -> Bool {
        guard !p.isEmpty, p.utf8.count <= 128 else { return false }
        for c in p.utf8 {
            let letter = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A)
            let other = (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
            if !letter && !other { return false }
        }
        return true
    }

    public var description: String { parts.joined(separator: ".") }

    /// The value at this path, or nil when any part is missing.
    public func resolve(in context: JSONValue) -> JSONValue? {
        var v = context
        for p in parts {
            switch v {
            case .object(let o):
                guard let next = o[p] else { return nil }
                v = next
            case .array(let a):
                guard let i = Int(p), a.indices.contains(i) else { return nil }
                v = a[i]
            default: return nil
            }
        }
        return v
    }
}

/// Text with `{{ path }}` placeholders, filled from a run's context when a step runs.
///
/// A missing value renders as nothing. JSON templates (an `http` body, a `publish` payload, a
/// `store` record) are filled string by string; a string that is one placeholder alone takes
/// the value itself (a number stays a number, an object an object).
public struct FlowTemplate: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case text(String)
        case value(FlowPath)
    }
    let pieces: [Piece]
    public let source: String

    /// Parses `text`; the error says which placeholder is wrong.
    public static func parse(_ text: String) -> Result<FlowTemplate, FlowSyntaxError> {
        guard text.utf8.count <= 64 << 10 else { return .failure(FlowSyntaxError("a template is limited to 64 KiB")) }
        var pieces: [Piece] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.text(String(rest[..<open.lowerBound]))) }
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                return .failure(FlowSyntaxError("a '{{' has no closing '}}'"))
            }
            let inside = after[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let path = FlowPath(inside) else {
                return .failure(
                    FlowSyntaxError(
                        "'{{\(inside.prefix(60))}}' is not a path such as {{event.payload.alertname}} or {{steps.triage.output.action}}"
                    )
                )
            }
            pieces.append(.value(path))
            rest = after[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        guard pieces.count <= 1000 else { return .failure(FlowSyntaxError("more than 1000 placeholders")) }
        return .success(FlowTemplate(pieces: pieces, source: text))
    }

    /// The paths the template reads.
    public var paths: [FlowPath] {
        pieces.compactMap {
            if case .value(let p) = $0 { return p }
            return nil
        }
    }

    /// The text with every placeholder filled (strings as they are, other values as JSON).
    public func render(_ context: JSONValue) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .value(let p):
                switch p.resolve(in: context) {
                case .string(let s)?: out += s
                case nil, .null?: break
                case let v?: out += v.jsonText
                }
            }
        }
        return out
    }

    /// The template's value: the value itself when the template is one placeholder alone.
    public func value(_ context: JSONValue) -> JSONValue {
        if pieces.count == 1, case .value(let p) = pieces[0] { return p.resolve(in: context) ?? .null }
        return .string(render(context))
    }

    /// Fills every string of a JSON template (strings that fail to parse stay as written; the
    /// loader has checked them).
    public static func fill(_ template: JSONValue, _ context: JSONValue) -> JSONValue {
        switch template {
        case .string(let s):
            guard s.contains("{{"), case .success(let t) = parse(s) else { return template }
            return t.value(context)
        case .array(let a): return .array(a.map { fill($0, context) })
        case .object(let o): return .object(o.mapValues { fill($0, context) })
        default: return template
        }
    }
}

/// What is wrong with a template or a condition.
public struct FlowSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A step's `when:`: comparisons of paths and literals, joined by `&&`, `||` and `!`, with
/// parentheses: `steps.triage.output.action == 'restart' && event.payload.status != 'resolved'`.
///
/// Values compare as JSON (numbers by value, so `2 == 2.0`); `<`, `<=`, `>`, `>=` compare
/// numbers, or strings by their bytes; a missing path is null. A value alone is true unless it
/// is null, false, 0 or empty.
public indirect enum FlowCondition: Sendable, Hashable {
    case value(Operand)
    case compare(Operand, Comparison, Operand)
    case not(FlowCondition)
    case and(FlowCondition, FlowCondition)
    case or(FlowCondition, FlowCondition)

    public enum Operand: Sendable, Hashable {
        case path(FlowPath)
        case literal(JSONValue)
    }

    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case eq = "=="
        case ne = "!="
        case lt = "<"
        case le = "<="
        case gt = ">"
        case ge = ">="
    }

    /// Parses `text` (at most 2048 bytes, 32 levels of nesting).
    public static func parse(_ text: String) -> Result<FlowCondition, FlowSyntaxError> {
        guard text.utf8.count <= 2048 else { return .failure(FlowSyntaxError("a condition is limited to 2048 bytes")) }
        var parser = ConditionParser(bytes: Array(text.utf8))
        do {
            let c = try parser.or(depth: 0)
            parser.skipSpaces()
            guard parser.at == parser.bytes.count else {
                throw FlowSyntaxError("unexpected '\(parser.rest(20))' at byte \(parser.at + 1)")
            }
            return .success(c)
        } catch let e as FlowSyntaxError {
            return .failure(e)
        } catch {
            return .failure(FlowSyntaxError("\(error)"))
        }
    }

    /// The paths the condition reads.
    public var paths: [FlowPath] {
        switch self {
        case .value(let o): return o.path.map { [$0] } ?? []
        case .compare(let a, _, let b): return (a.path.map { [$0] } ?? []) + (b.path.map { [$0] } ?? [])
        case .not(let c): return c.paths
        case .and(let a, let b), .or(let a, let b): return a.paths + b.paths
        }
    }

    public func evaluate(_ context: JSONValue) -> Bool {
        switch self {
        case .value(let o): return Self.truthy(o.value(context))
        case .not(let c): return !c.evaluate(context)
        case .and(let a, let b): return a.evaluate(context) && b.evaluate(context)
        case .or(let a, let b): return a.evaluate(context) || b.evaluate(context)
        case .compare(let a, let op, let b):
            let (x, y) = (a.value(context), b.value(context))
            switch op {
            case .eq: return Self.equal(x, y)
            case .ne: return !Self.equal(x, y)
            default:
                guard let order = Self.order(x, y) else { return false }
                switch op {
                case .lt: return order < 0
                case .le: return order <= 0
                case .gt: return order > 0
                default: return order >= 0
                }
            }
        }
    }

    static func truthy(_ v: JSONValue) -> Bool {
        switch v {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0 && !d.isNaN
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    static func equal(_ x: JSONValue, _ y: JSONValue) -> Bool {
        if let a = x.doubleValue, let b = y.doubleValue { return a == b }
        return x == y
    }

    static func order(_ x: JSONValue, _ y: JSONValue) -> Int? {
        if let a = x.doubleValue, let b = y.doubleValue { return a < b ? -1 : (a > b ? 1 : 0) }
        if let a = x.stringValue, let b = y.stringValue {
            return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : (a == b ? 0 : 1)
        }
        return nil
    }
}

extension FlowCondition.Operand {
    var path: FlowPath? {
        if case .path(let p) = self { return p }
        return nil
    }

    func value(_ context: JSONValue) -> JSONValue {
        switch self {
        case .path(let p): return p.resolve(in: context) ?? .null
        case .literal(let v): return v
        }
    }
}

/// A recursive-descent parser of conditions over bytes.
struct ConditionParser {
    let bytes: [UInt8]
    var at = 0

    mutating func skipSpaces() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x09 { at += 1 }
    }

    func rest(_ n: Int) -> String { String(decoding: bytes[at..<min(bytes.count, at + n)], as: UTF8.self) }

    mutating func take(_ token: String) -> Bool {
        skipSpaces()
        let t = Array(token.utf8)
        guard at + t.count <= bytes.count, Array(bytes[at..<at + t.count]) == t else { return false }
        at += t.count
        return true
    }

    mutating func or(depth: Int) throws -> FlowCondition {
        guard depth < 32 else { throw FlowSyntaxError("a condition nests deeper than 32 levels") }
        var left = try and(depth: depth)
        while take("||") { left = .or(left, try and(depth: depth)) }
        return left
    }

    mutating func and(depth: Int) throws -> FlowCondition {
        var left = try unary(depth: depth)
        while take("&&") { left = .and(left, try unary(depth: depth)) }
        return left
    }

    mutating func unary(depth: Int) throws -> FlowCondition {
        guard depth < 32 else { throw FlowSyntaxError("a condition nests deeper than 32 levels") }
        skipSpaces()
        if at < bytes.count, bytes[at] == 0x21, !(at + 1 < bytes.count && bytes[at + 1] == 0x3D) {
            at += 1
            return .not(try unary(depth: depth + 1))
        }
        if take("(") {
            let inner = try or(depth: depth + 1)
            guard take(")") else { throw FlowSyntaxError("a '(' has no closing ')'") }
            return inner
        }
        let left = try operand()
        for op in [FlowCondition.Comparison.eq, .ne, .le, .ge, .lt, .gt] where take(op.rawValue) {
            return .compare(left, op, try operand())
        }
        return .value(left)
    }

    mutating func operand() throws -> FlowCondition.Operand {
        skipSpaces()
        guard at < bytes.count else { throw FlowSyntaxError("the condition ends where a value was expected") }
        let c = bytes[at]
        if c == 0x27 || c == 0x22 {  // 'text' or "text"
            let start = at + 1
            guard let end = bytes[start...].firstIndex(of: c) else {
                throw FlowSyntaxError("a quoted string has no closing quote")
            }
            at = end + 1
            return .literal(.string(String(decoding: bytes[start..<end], as: UTF8.self)))
        }
        let start = at
        while at < bytes.count,
            (bytes[at] >= 0x61 && bytes[at] <= 0x7A) || (bytes[at] >= 0x41 && bytes[at] <= 0x5A)
                || (bytes[at] >= 0x30 && bytes[at] <= 0x39) || bytes[at] == 0x5F || bytes[at] == 0x2D
                || bytes[at] == 0x2E || bytes[at] == 0x2B
        {
            at += 1
        }
        let word = String(decoding: bytes[start..<at], as: UTF8.self)
        guard !word.isEmpty else {
            throw FlowSyntaxError("expected a value or a path at byte \(start + 1), found '\(rest(10))'")
        }
        switch word {
        case "true": return .literal(.bool(true))
        case "false": return .literal(.bool(false))
        case "null": return .literal(.null)
        default: break
        }
        if let first = word.utf8.first, (first >= 0x30 && first <= 0x39) || first == 0x2D || first == 0x2B {
            if let i = Int64(word) { return .literal(.int(i)) }
            if let d = Double(word), d.isFinite { return .literal(.double(d)) }
            throw FlowSyntaxError("'\(word.prefix(40))' is not a number")
        }
        guard let path = FlowPath(word) else { throw FlowSyntaxError("'\(word.prefix(60))' is not a path") }
        return .path(path)
    }
}
