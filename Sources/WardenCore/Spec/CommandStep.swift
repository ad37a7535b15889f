import Foundation

/// A command with its environment: a rebuild step or a runbook.
public struct CommandStep: Sendable, Hashable {
    /// The command line (may contain `${outputs.NAME}` references, resolved when it runs).
    public var run: [String]
    public var timeout: Duration
    public var env: [String: String]
    /// Absolute; the service's (or the spec's) directory by default.
    public var cwd: String

    public init(run: [String], timeout: Duration = .seconds(600), env: [String: String] = [:], cwd: String) {
        self.run = run
        self.timeout = timeout
        self.env = env
        self.cwd = cwd
    }
}

/// `${outputs.NAME}` references to the outputs of a service's last rebuild.
public enum OutputTemplate {
    /// Replaces every `${outputs.NAME}` whose NAME is known; unknown ones stay as written.
    public static func resolve(_ text: String, _ outputs: [String: String]) -> String {
        guard text.contains("${outputs.") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${outputs.") {
            result += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            guard let close = after.firstIndex(of: "}") else {
                result += rest[start.lowerBound...]
                return result
            }
            let name = String(after[..<close])
            result += outputs[name] ?? "${outputs.\(name)}"
            rest = after[after.index(after: close)...]
        }
        return result + rest
    }
}
