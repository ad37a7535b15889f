import Foundation

/// What would change between two specs: services added, removed and changed (with the fields
/// that differ), and the other top-level parts that differ. What `warden diff` shows.
public struct SpecDiff: Sendable, Equatable, Codable {
    public var added: [String] = []
    public var removed: [String] = []
    /// By service: the fields that differ, each as `field: old → new`.
    public var changed: [String: [String]] = [:]
    /// Top-level parts (`retention`, `healing`, `defense`, …) that differ.
    public var sections: [String] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty && sections.isEmpty }

    /// The difference from `old` to `new`.
    public init(from old: Spec, to new: Spec) {
        let oldServices = Dictionary(old.services.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.services.map(\.name))
        for service in new.services {
            guard let before = oldServices[service.name] else {
                added.append(service.name)
                continue
            }
            if before != service { changed[service.name] = Self.fields(before, service) }
        }
        removed = old.services.map(\.name).filter { !newNames.contains($0) }
        for (label, a) in Mirror(reflecting: old).children {
            guard let label, !["path", "services", "secretsRead", "vault", "sections"].contains(label) else { continue }
            let b = Mirror(reflecting: new).children.first { $0.label == label }?.value
            if "\(a)" != "\(b.map { "\($0)" } ?? "")" { sections.append(Self.snake(label)) }
        }
        for key in Set(old.sections.keys + new.sections.keys).sorted() where !old.sections.same(key, as: new.sections) {
            sections.append(key)
        }
        sections.sort()
    }

    /// Each field of two values of one type that differs, as `field: old → new` (values cut to 120
    /// characters; secrets never appear: a service's secret environment holds references only).
    static func fields<T>(_ a: T, _ b: T) -> [String] {
        let bs = Dictionary(
            Mirror(reflecting: b).children.compactMap { c in c.label.map { ($0, c.value) } },
            uniquingKeysWith: { x, _ in x }
        )
        var result: [String] = []
        for child in Mirror(reflecting: a).children {
            guard let label = child.label, let other = bs[label] else { continue }
            let (x, y) = (Self.describe(child.value), Self.describe(other))
            if x != y { result.append("\(snake(label)): \(clip(x)) → \(clip(y))") }
        }
        return result.isEmpty ? ["(a field that is not shown)"] : result
    }

    static func describe(_ value: Any) -> String {
        let text = "\(value)"
        return text.hasPrefix("Optional(") && text.hasSuffix(")") ? String(text.dropFirst(9).dropLast()) : text
    }

    static func clip(_ s: String) -> String { s.count > 120 ? String(s.prefix(117)) + "…" : s }

    /// `secretEnv` → `secret_env`.
    static func snake(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Lines for a person: `+ web`, `- old`, `~ api: run: … → …`, `~ healing`.
    public var lines: [String] {
        added.map { "+ service \($0)" } + removed.map { "- service \($0)" }
            + changed.keys.sorted().flatMap { name in changed[name]!.map { "~ service \(name): \($0)" } }
            + sections.map { "~ \($0)" }
    }
}
