import Foundation

/// A fail2ban filter applied to log lines as fail2ban applies it: the line's timestamp cut out,
/// `prefregex` first (its `<F-CONTENT>` what the failregexes see), the first failregex that
/// matches, unless an ignoreregex does; the address from the `ip4`, `ip6` or `dns` group.
///
/// The date is found as fail2ban's date detector finds it (``Fail2banDates``).
public struct Fail2banMatcher: Sendable {
    let fail: [Fail2banRegex]
    let ignore: [Fail2banRegex]
    let prefix: Fail2banRegex?

    /// How many lines a match may span (the filter's `maxlines`).
    let maxlines: Int
    /// Where its lines state their time: the filter's `datepattern`, or fail2ban's defaults.
    public let dates: Fail2banDates

    public init(_ filter: Fail2banFilter) throws(Fail2banRegex.Failure) {
        let multiline = filter.maxlines > 1
        func compile(_ regex: String) throws(Fail2banRegex.Failure) -> Fail2banRegex {
            try Fail2banRegex(regex, multiline: multiline)
        }
        fail = try filter.failregex.map(compile)
        ignore = try filter.ignoreregex.map(compile)
        prefix = try filter.prefregex.map(compile)
        maxlines = filter.maxlines
        if let pattern = filter.datepattern {
            do throws(Fail2banDates.Failure) {
                dates = try Fail2banDates(datepattern: pattern)
            } catch {
                throw Fail2banRegex.Failure(description: error.description)
            }
        } else {
            dates = .defaults
        }
    }

    /// The line without its date, as fail2ban's date detector finds it.
    func withoutDate(_ line: String, deadline: ContinuousClock.Instant? = nil) -> String {
        guard let found = dates.find(in: line, reference: Date(), deadline: deadline) else { return line }
        return (line as NSString).replacingCharacters(in: found.range, with: "")
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
