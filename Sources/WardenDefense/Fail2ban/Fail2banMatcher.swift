import Foundation

/// A fail2ban filter applied to log lines as fail2ban applies it: the line's timestamp cut out,
/// `prefregex` first (its `<F-CONTENT>` what the failregexes see), the first failregex that
/// matches, unless an ignoreregex does; the address from the `ip4`, `ip6` or `dns` group.
///
/// The timestamp is found among common formats (syslog, ISO 8601, Apache's access and error
/// logs, nginx's error log, epoch seconds), not yet with fail2ban's whole date detector.
public struct Fail2banMatcher: Sendable {
    let fail: [Fail2banRegex]
    let ignore: [Fail2banRegex]
    let prefix: Fail2banRegex?

    public init(_ filter: Fail2banFilter) throws(Fail2banRegex.Failure) {
        fail = try filter.failregex.map { regex throws(Fail2banRegex.Failure) in try Fail2banRegex(regex) }
        ignore = try filter.ignoreregex.map { regex throws(Fail2banRegex.Failure) in try Fail2banRegex(regex) }
        prefix = try filter.prefregex.map { regex throws(Fail2banRegex.Failure) in try Fail2banRegex(regex) }
    }

    static let dates: [NSRegularExpression] = [
        #"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?(?: \d{4})?"#,
        #"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?"#,
        #"\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"#,
        #"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"#,
        #"^\d{10}(?:\.\d+)?"#,
    ].map { try! NSRegularExpression(pattern: $0) }

    /// The line without its timestamp (the leftmost one found).
    static func withoutDate(_ line: String) -> String {
        let ns = line as NSString
        var best: NSRange?
        for date in dates {
            if let m = date.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)),
                best == nil || m.range.location < best!.location
            {
                best = m.range
            }
        }
        guard let best else { return line }
        return ns.replacingCharacters(in: best, with: "")
    }

    /// What a filter made of a line.
    public struct Verdict: Sendable, Equatable {
        /// A failure.
        public var matched: Bool
        /// The address it names, if any.
        public var host: String?
        /// The line took longer than the budget: the search was stopped and it counts as no failure.
        public var timedOut = false
    }

    /// The time a line may take through every regex of a filter: fail2ban's regexes are the
    /// operator's, a line is anyone's, and a regex that backtracks catastrophically on a crafted
    /// line would otherwise hold the watch for ever.
    public static let lineBudget: Duration = .milliseconds(50)

    /// What the filter makes of `line`: whether it is a failure, and the address it names.
    public func failure(in line: String, budget: Duration = Self.lineBudget) -> Verdict {
        let deadline = ContinuousClock.now + budget
        do {
            return try failure(in: line, deadline: deadline)
        } catch {
            return Verdict(matched: false, host: nil, timedOut: true)
        }
    }

    func failure(in line: String, deadline: ContinuousClock.Instant) throws(Fail2banRegex.TimedOut) -> Verdict {
        var content = Self.withoutDate(line)
        // The prefregex's groups count too (apache's error logs name the client there).
        var prefixHost: String?
        if let prefix {
            guard let m = try prefix.firstMatch(in: content, deadline: deadline) else {
                return Verdict(matched: false)
            }
            for name in ["ip4", "ip6", "dns"] where prefixHost == nil {
                if let r = m.range(of: name) { prefixHost = (content as NSString).substring(with: r) }
            }
            if let r = m.range(of: "content") { content = (content as NSString).substring(with: r) }
        }
        for regex in fail {
            guard let m = try regex.firstMatch(in: content, deadline: deadline) else { continue }
            for i in ignore where try i.firstMatch(in: content, deadline: deadline) != nil {
                return Verdict(matched: false)
            }
            // <F-NOFAIL>, <F-MLFFORGET>, <F-MLFGAINED>: a line that tells something about a
            // session (for fail2ban's multi-line tracking), not a failure.
            if ["nofail", "mlfforget", "mlfgained"].contains(where: { m.range(of: $0) != nil }) {
                return Verdict(matched: false)
            }
            for name in ["ip4", "ip6", "dns"] {
                if let r = m.range(of: name) {
                    return Verdict(matched: true, host: (content as NSString).substring(with: r))
                }
            }
            return Verdict(matched: true, host: prefixHost)
        }
        return Verdict(matched: false)
    }
}
