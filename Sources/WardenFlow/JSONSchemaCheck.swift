import WardenCore

/// Checks a value against the subset of JSON Schema that model answers are held to: `type`
/// (one or a list), `enum`, `const`, `properties`, `required`, `additionalProperties: false`,
/// `items`, `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`. Other keywords
/// are refused when the spec is loaded (``unsupported(_:)``), never silently ignored.
public enum JSONSchemaCheck {
    static let keywords: Set<String> = [
        "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "minLength", "maxLength", "minimum", "maximum", "description", "title",
    ]

    /// The first keyword of `schema` (at any depth) that is not supported, with its path; nil when all are.
    public static func unsupported(_ schema: JSONValue, path: String = "schema", depth: Int = 0) -> String? {
        guard depth < 32 else { return "\(path): nested deeper than 32 levels" }
        guard case .object(let o) = schema else { return "\(path): a schema is an object" }
        for (k, v) in o.sorted(by: { $0.key < $1.key }) {
            guard keywords.contains(k) else {
                return "\(path).\(k): not supported (use \(keywords.sorted().joined(separator: ", ")))"
            }
            if k == "properties" {
                guard case .object(let props) = v else { return "\(path).properties: expected an object" }
                for (name, sub) in props.sorted(by: { $0.key < $1.key }) {
                    if let p = unsupported(sub, path: "\(path).properties.\(name)", depth: depth + 1) { return p }
                }
            }
            if k == "items", let p = unsupported(v, path: "\(path).items", depth: depth + 1) { return p }
        }
        return nil
    }

    /// Why `value` does not match `schema` (the first problem, with its path), or nil when it does.
    public static func problem(_ value: JSONValue, _ schema: JSONValue, path: String = "$") -> String? {
        guard case .object(let s) = schema else { return nil }
        if let t = s["type"] {
            let allowed = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue].compactMap { $0 }
            guard allowed.contains(where: { matches(value, type: $0) }) else {
                return "\(path): expected \(allowed.joined(separator: " or ")), found \(kind(value))"
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(where: { FlowCondition.equal($0, value) }) {
            return
                "\(path): expected one of \(options.map(\.jsonText).joined(separator: ", ")), found \(value.jsonText.prefix(80))"
        }
        if let c = s["const"], !FlowCondition.equal(c, value) { return "\(path): expected \(c.jsonText)" }
        if let n = value.doubleValue {
            if let min = s["minimum"]?.doubleValue, n < min { return "\(path): below the minimum \(min)" }
            if let max = s["maximum"]?.doubleValue, n > max { return "\(path): above the maximum \(max)" }
        }
        if case .string(let text) = value {
            let count = text.count
            if let min = s["minLength"]?.intValue, count < min { return "\(path): shorter than \(min)" }
            if let max = s["maxLength"]?.intValue, count > max { return "\(path): longer than \(max)" }
        }
        if case .array(let items) = value {
            if let min = s["minItems"]?.intValue, items.count < min { return "\(path): fewer than \(min) items" }
            if let max = s["maxItems"]?.intValue, items.count > max { return "\(path): more than \(max) items" }
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() {
                    if let p = problem(item, itemSchema, path: "\(path)[\(i)]") { return p }
                }
            }
        }
        if case .object(let fields) = value {
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where fields[name] == nil {
                return "\(path).\(name): required"
            }
            let props = s["properties"]?.objectValue ?? [:]
            for (name, v) in fields.sorted(by: { $0.key < $1.key }) {
                if let sub = props[name] {
                    if let p = problem(v, sub, path: "\(path).\(name)") { return p }
                } else if s["additionalProperties"] == .bool(false) {
                    return "\(path).\(name): not allowed"
                }
            }
        }
        return nil
    }

    static func matches(_ v: JSONValue, type: String) -> Bool {
        switch (type, v) {
        case ("string", .string), ("boolean", .bool), ("null", .null), ("array", .array), ("object", .object):
            return true
        case ("number", .int), ("number", .double): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        default: return false
        }
    }

    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
