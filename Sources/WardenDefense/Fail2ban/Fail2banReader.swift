import Foundation

/// A fail2ban filter reading a log line by line, as fail2ban's `Filter.findFailure` does: what a
/// filter needs from earlier lines is kept here.
///
/// - A filter whose `maxlines` is over 1 searches the last `maxlines` lines (their dates cut
///   out) joined by line breaks; the lines a failure used leave the buffer, those it skipped
///   (`<SKIPLINES>`) and those around it stay.
/// - `<F-MLFID>` names a session (sshd's `sshd[PID]`): what its lines said (the address, the
///   users tried, whether it logged in) is kept per session, at most ``maxSessions`` of them and
///   each for ``sessionLifetime`` lines' worth of time, so that a failure on a line without the
///   address counts for the address an earlier line of the session gave, a failure reported
///   before the address is known counts once it is (`mlfpending`), `<F-NOFAIL>` and
///   `<F-MLFGAINED>` lines are no failure unless the session had failures pending or tried
///   several users, and `<F-MLFFORGET>` ends the session.
///
/// Not thread-safe: one reader per log, fed its lines in order.
public struct Fail2banReader: Sendable {
    let matcher: Fail2banMatcher
    /// The lines a multi-line filter searches (dates cut out).
    public private(set) var buffer: [String] = []
    private var bufferBytes = 0

    /// The most text a multi-line buffer holds: every line searches it whole, so a log of long
    /// lines under a large `maxlines` would otherwise make each line search megabytes.
    public static let maxBufferBytes = 64 << 10
    /// Sessions by multi-line failure id: their groups and users, and when they were last set.
    private var sessions: [String: Session] = [:]
    private var tick = 0

    /// As fail2ban's cache of sessions: at most 100, forgotten 5 minutes after they were set.
    public static let maxSessions = 100
    public static let sessionLifetime: Duration = .seconds(300)

    struct Session {
        var groups: [String: String]
        var users: Set<String>
        var setAt: ContinuousClock.Instant
        var order: Int
    }

    public init(_ matcher: Fail2banMatcher) { self.matcher = matcher }

    /// What the filter makes of the next line of the log.
    public mutating func feed(_ line: String, budget: Duration = Fail2banMatcher.lineBudget) -> Fail2banMatcher.Verdict
    {
        do {
            return try feed(line, deadline: ContinuousClock.now + budget)
        } catch {
            return .init(matched: false, host: nil, timedOut: true)
        }
    }

    mutating func feed(
        _ line: String,
        deadline: ContinuousClock.Instant
    ) throws(Fail2banRegex.TimedOut) -> Fail2banMatcher.Verdict {
        let content = matcher.withoutDate(line, deadline: deadline)
        if matcher.maxlines > 1 {
            buffer.append(content)
            bufferBytes += content.utf8.count
            // The last maxlines lines, and no more than maxBufferBytes of them (the newest kept).
            while buffer.count > matcher.maxlines || (bufferBytes > Self.maxBufferBytes && buffer.count > 1) {
                bufferBytes -= buffer.removeFirst().utf8.count
            }
        } else {
            buffer = [content]
            bufferBytes = content.utf8.count
        }
        var lines = buffer
        var text = Self.joined(lines)
        var pre: [String: String] = [:]
        if let prefix = matcher.prefix {
            guard let m = try prefix.firstMatch(in: text, deadline: deadline) else { return .init(matched: false) }
            pre = m.values(in: text)
            if let content = pre.removeValue(forKey: "content"), !content.isEmpty {
                lines = [content]
                buffer = lines
                bufferBytes = content.utf8.count
                text = Self.joined(lines)
            }
        }
        for regex in matcher.fail {
            guard let m = try regex.firstMatch(in: text, deadline: deadline) else { continue }
            for i in matcher.ignore where try i.firstMatch(in: text, deadline: deadline) != nil {
                return .init(matched: false)
            }
            if matcher.maxlines > 1 {
                buffer = Self.unmatched(lines, by: m, in: text)
                bufferBytes = buffer.reduce(0) { $0 + $1.utf8.count }
            }
            var fail = pre.merging(m.values(in: text)) { _, new in new }
            if let id = fail["mlfid"] {
                fail = merge(session: id, fail)
                if truthy(fail["nofail"]) { return .init(matched: false) }
            } else if ["nofail", "mlfforget", "mlfgained"].contains(where: { truthy(fail[$0]) }) {
                // Without a session such a line only tells something about one: not a failure.
                return .init(matched: false)
            }
            guard let host = fail["ip4"] ?? fail["ip6"] ?? fail["dns"] else {
                // A failure whose address is not known yet: it counts once a line of its
                // session gives the address.
                if let id = fail["mlfid"], sessions[id] != nil { sessions[id]!.groups["mlfpending"] = "1" }
                return .init(matched: false)
            }
            return .init(matched: true, host: host)
        }
        return .init(matched: false)
    }

    /// fail2ban's buffer as its regexes see it: lines joined by, and ending with, a line break.
    static func joined(_ lines: [String]) -> String { lines.joined(separator: "\n") + "\n" }

    /// The lines a match did not use: those before and after the lines it spans, and those it
    /// skipped with `<SKIPLINES>` (fail2ban's `getUnmatchedTupleLines`).
    static func unmatched(_ lines: [String], by m: Fail2banRegex.Match, in text: String) -> [String] {
        guard lines.count > 1 else { return [] }
        let ns = text as NSString
        let r = m.result.range
        let newline = "\n" as NSString
        let before = ns.range(
            of: newline as String,
            options: .backwards,
            range: NSRange(location: 0, length: min(ns.length, r.location + 1))
        )
        let lineStart = before.location == NSNotFound ? 0 : before.location + 1
        let searchFrom = max(0, r.location + r.length - 1)
        let after = ns.range(
            of: newline as String,
            range: NSRange(location: searchFrom, length: ns.length - searchFrom)
        )
        let lineEnd = after.location == NSNotFound ? ns.length : after.location + 1
        func breaks(upTo end: Int) -> Int {
            var n = 0
            var at = 0
            while at < end {
                let found = ns.range(of: "\n", range: NSRange(location: at, length: end - at))
                if found.location == NSNotFound { break }
                n += 1
                at = found.location + 1
            }
            return n
        }
        let first = min(breaks(upTo: lineStart), lines.count)
        let last = max(first, min(breaks(upTo: lineEnd), lines.count))
        var matched = Array(lines[first..<last])
        var left = Array(lines[..<first])
        var skipped: [(Int, String)] = []
        for (icu, name) in m.groups where name.hasPrefix("skiplines") {
            let g = m.result.range(withName: icu)
            if g.location != NSNotFound { skipped.append((Int(name.dropFirst(9)) ?? 0, ns.substring(with: g))) }
        }
        var n = 0
        for line in skipped.sorted(by: { $0.0 < $1.0 }).map(\.1).joined().split(
            separator: "\n",
            omittingEmptySubsequences: false
        ).dropLast() {
            if let k = matched[n...].firstIndex(of: String(line)) {
                left.append(matched.remove(at: k))
                n = k
            }
        }
        left.append(contentsOf: lines[last...])
        return left
    }

    /// fail2ban's `_mergeFailure`: the session's groups merged with this failure's, and what
    /// the session holds afterwards.
    mutating func merge(session id: String, _ current: [String: String]) -> [String: String] {
        var fail = current
        var flags = 0
        if truthy(fail["mlfgained"]) {
            flags |= 8 | 1
            if !truthy(fail["nofail"]) { fail["nofail"] = fail["mlfgained"] }
        } else if truthy(fail["nofail"]) {
            flags |= 1
        }
        if truthy(fail.removeValue(forKey: "mlfforget")) { flags |= 2 }
        expireSessions()
        var users: Set<String> = []
        var keep: Bool
        if var s = sessions[id] {
            if let user = fail["user"], !user.isEmpty { s.users.insert(user) }
            users = s.users
            if truthy(s.groups.removeValue(forKey: "nofail")) { flags |= 4 }
            if truthy(s.groups.removeValue(forKey: "mlfgained")) { flags |= 4 }
            if flags & 8 != 0 { s.groups.removeValue(forKey: "mlfpending") }
            s.groups.merge(fail) { _, new in new }
            fail = s.groups
            keep = flags & 2 == 0
            if !keep { sessions[id] = nil }
        } else {
            keep = flags & 2 == 0
            if let user = fail["user"], !user.isEmpty { users.insert(user) }
        }
        if truthy(fail.removeValue(forKey: "mlfpending")) || users.count > 1 {
            // Failures were pending, or several users were tried: not a clean login.
            fail["nofail"] = nil
            fail["mlfgained"] = nil
        }
        if keep {
            tick += 1
            sessions[id] = Session(groups: fail, users: users, setAt: .now, order: tick)
            if sessions.count > Self.maxSessions, let oldest = sessions.min(by: { $0.value.order < $1.value.order }) {
                sessions[oldest.key] = nil
            }
        }
        return fail
    }

    private mutating func expireSessions() {
        guard !sessions.isEmpty else { return }
        let now = ContinuousClock.now
        sessions = sessions.filter { now - $0.value.setAt < Self.sessionLifetime }
    }

    /// Python's truth of a group's value: taking part and not empty.
    func truthy(_ value: String?) -> Bool { !(value ?? "").isEmpty }
}

extension Fail2banRegex.Match {
    /// The groups that took part, by fail2ban's names, with the text they matched; an
    /// alternative (`alt_user`, `alt_user_2`) stands for its name (`user`) when that is empty.
    func values(in text: String) -> [String: String] {
        let ns = text as NSString
        var values: [String: String] = [:]
        var alternatives: [(String, String)] = []
        for (icu, name) in groups {
            let r = result.range(withName: icu)
            guard r.location != NSNotFound else { continue }
            let value = ns.substring(with: r)
            if name.hasPrefix("alt_"), name.count > 4 {
                var base = name.dropFirst(4)
                if let underscore = base.lastIndex(of: "_"),
                    base[base.index(after: underscore)...].allSatisfy(\.isNumber),
                    underscore != base.startIndex
                {
                    base = base[..<underscore]
                }
                alternatives.append((name, String(base)))
            }
            values[name] = value
        }
        for (alt, base) in alternatives.sorted(by: { $0.0 < $1.0 }) {
            if let v = values[alt], !v.isEmpty, (values[base] ?? "").isEmpty { values[base] = v }
        }
        return values
    }
}
