import Foundation

/// Parses and prints durations the way the spec writes them: `200ms`, `2s`, `10m`, `1h30m`, `7d`.
public enum DurationFormat {
    private static let units: [(suffix: String, nanos: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9),
        ("w", 604800e9),
    ]

    /// What a valid duration looks like, for error messages.
    public static let expected = "a duration such as 500ms, 2s, 10m, 1h30m or 7d"

    /// Parses `text`, or returns nil when it is not a duration. A bare `0` is allowed; any other
    /// number needs a unit. Negative durations are not durations.
    public static func parse(_ text: String) -> Duration? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s == "0" { return .zero }
        var total: Double = 0
        var rest = Substring(s)
        var parts = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter || $0 == "µ" }
            guard let unit = units.first(where: { $0.suffix == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.nanos
            parts += 1
        }
        guard parts > 0, total.isFinite, total < 9.2e18 else { return nil }
        return .nanoseconds(Int64(total.rounded()))
    }

    /// Formats `duration` compactly: `150ms`, `2s`, `1.5s`, `10m`, `1h30m`, `2d3h`.
    public static func format(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns == 0 { return "0s" }
        if ns < 0 { return "-" + format(.nanoseconds(-ns)) }
        if ns < 1_000 { return "\(ns)ns" }
        if ns < 1_000_000 { return trimmed(Double(ns) / 1e3) + "us" }
        if ns < 1_000_000_000 { return trimmed(Double(ns) / 1e6) + "ms" }
        if ns < 60_000_000_000 { return trimmed(Double(ns) / 1e9) + "s" }
        var seconds = ns / 1_000_000_000
        var out = ""
        for (suffix, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60), ("s", 1)] where seconds >= size {
            out += "\(seconds / size)\(suffix)"
            seconds %= size
        }
        return out
    }

    private static func trimmed(_ value: Double) -> String {
        let hundredths = Int64((value * 100).rounded())
        let whole = hundredths / 100
        let fraction = hundredths % 100
        if fraction == 0 { return String(whole) }
        var decimals = fraction < 10 ? "0\(fraction)" : "\(fraction)"
        while decimals.hasSuffix("0") { decimals.removeLast() }
        return "\(whole).\(decimals)"
    }
}
