import Foundation
import Logging
import Metrics
import Synchronization
import WardenCore

/// A fail2ban jail's filter as a watch's parser: each line its filter counts as a failure emits
/// the jail's signal for the address it names. Like a user's pattern, a filter describes only
/// what it looks for, so every line is "recognized". Host names are not resolved (fail2ban's
/// `usedns` would look them up): a match that names no address emits nothing.
///
/// Each parser reads one log (a watch makes its own): a multi-line filter's buffer and its
/// sessions are that log's.
public struct Fail2banParser: LineParser {
    final class Reading: Sendable {
        let reader: Mutex<Fail2banReader>
        init(_ reader: Fail2banReader) { self.reader = Mutex(reader) }
    }
    let reading: Reading
    /// The jail's `ignoreip`: its failures from these addresses are not counted (other jails'
    /// and Warden's own scenarios still count theirs, as in fail2ban).
    let ignore: [CIDR]
    let dates: Fail2banDates
    let signal: String
    let timeouts: Counter
    /// Whether a timeout was logged yet (once per process; the counter counts them all).
    static let warned = Atomic<Bool>(false)

    public init(jail: Fail2banJail) throws {
        let filter = try Fail2banFilter.load(jail.filterPath, initOptions: jail.filterOptions)
        let matcher = try Fail2banMatcher(filter)
        reading = Reading(Fail2banReader(matcher))
        dates = matcher.dates
        signal = jail.signal
        ignore = jail.ignoreIP
        timeouts = Counter(label: "warden_defense_regex_timeouts_total", dimensions: [("jail", jail.name)])
    }

    /// The time as the filter's date detector reads it (its `datepattern`, or fail2ban's
    /// default templates).
    public func statedTime(of line: UnsafeBufferPointer<UInt8>, reference: Date) -> Date? {
        let text = String(decoding: UnsafeBufferPointer(rebasing: line[0..<min(line.count, 8192)]), as: UTF8.self)
        return dates.find(in: text, reference: reference, deadline: .now + Fail2banMatcher.lineBudget)?.date
    }

    public func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (String, IPAddress) -> Void) -> Bool {
        // fail2ban reads lines of at most some kilobytes the same way: longer ones are cut.
        let text = String(decoding: UnsafeBufferPointer(rebasing: line[0..<min(line.count, 8192)]), as: UTF8.self)
        let verdict = reading.reader.withLock { $0.feed(text) }
        if verdict.timedOut {
            timeouts.increment()
            if !Self.warned.exchange(true, ordering: .relaxed) {
                Logger(label: "warden.defense").warning(
                    "a fail2ban filter took longer than \(Fail2banMatcher.lineBudget) on a line: it was cut off and counts as no failure (warden_defense_regex_timeouts_total)",
                    metadata: ["warden.parser": "\(signal)", "warden.line": "\(text.prefix(200))"]
                )
            }
        }
        if verdict.matched, let host = verdict.host, let address = IPAddress(host),
            !ignore.contains(where: { $0.contains(address) })
        {
            emit(signal, address)
        }
        return true
    }
}
