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

    /// How many lines a match may span (the filter's `maxlines`).
    let maxlines: Int

    public init(_ filter: Fail2banFilter) throws(Fail2banRegex.Failure) {
        let multiline = filter.maxlines > 1
        func compile(_ regex: String) throws(Fail2banRegex.Failure) -> Fail2banRegex {
            try Fail2banRegex(regex, multiline: multiline)
        }
        fail = try filter.failregex.map(compile)
        ignore = try filter.ignoreregex.map(compile)
        prefix = try filter.prefregex.map(compile)
        maxlines = filter.maxlines
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

    /// What the filter makes of `line` alone: whether it is a failure, and the address it names.
    /// A log is read with a ``Fail2banReader``, which keeps what a filter needs from the lines
    /// before (the last `maxlines`, the sessions of `<F-MLFID>`).
    public func failure(in line: String, budget: Duration = Self.lineBudget) -> Verdict {
        let deadline = ContinuousClock.now + budget
        do {
            return try failure(in: line, deadline: deadline)
        } catch {
            return Verdict(matched: false, host: nil, timedOut: true)
        }
    }

    func failure(in line: String, deadline: ContinuousClock.Instant) throws(Fail2banRegex.TimedOut) -> Verdict {
        var reader = Fail2banReader(self)
        return try reader.feed(line, deadline: deadline)
    }
}
