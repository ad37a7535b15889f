import Foundation
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenDefense

/// Filters that need earlier lines (multi-line buffers, `<F-MLFID>` sessions), read line by line
/// and checked against fail2ban itself: `fail2ban-regex -o row` on the same log and filter.
@Suite("fail2ban's multi-line reading")
struct Fail2banReaderTests {
    /// The failures fail2ban finds in `log` with `filter`: (line number, address), in order.
    func fail2bans(log: [String], filter: String) async throws -> [(Int, String)] {
        let dir = TempDir("warden-f2b-ml")
        dir.write("filter.conf", filter)
        dir.write(
            "log",
            log.enumerated().map { "2026-12-01 10:00:\(String(format: "%02d", $0.offset)) \($0.element)\n" }.joined()
        )
        let r = try await runCommand(
            "/usr/bin/fail2ban-regex",
            ["-o", "row", dir.file("log"), dir.file("filter.conf")]
        )
        #expect(r.exitCode == 0, "fail2ban-regex: \(r.stderr)")
        // ['192.0.2.1',	1796119200.0,	{...}],  — the time's seconds are the line's number.
        let start = LogTime.epoch(2026, 12, 1, 10, 0, 0) - Double(TimeZone.current.secondsFromGMT())
        return r.stdout.split(separator: "\n").compactMap { row -> (Int, String)? in
            let fields = row.split(separator: ",", maxSplits: 2)
            guard fields.count >= 2, let at = Double(fields[1].trimmingCharacters(in: .whitespaces)) else { return nil }
            let host = fields[0].trimmingCharacters(in: CharacterSet(charactersIn: "[' "))
            return (Int(at - start), host)
        }
    }

    /// What Warden's reader finds, line by line.
    func wardens(log: [String], filter: String) throws -> [(Int, String)] {
        let dir = TempDir("warden-f2b-ml")
        dir.write("filter.conf", filter)
        var reader = Fail2banReader(try Fail2banMatcher(try Fail2banFilter.load(dir.file("filter.conf"))))
        var found: [(Int, String)] = []
        for (n, line) in log.enumerated() {
            let v = reader.feed("2026-12-01 10:00:\(String(format: "%02d", n)) \(line)", budget: .seconds(30))
            if v.matched, let host = v.host { found.append((n, host)) }
        }
        return found
    }

    func agree(log: [String], filter: String) async throws {
        let theirs = try await fail2bans(log: log, filter: filter)
        let ours = try wardens(log: log, filter: filter)
        #expect(!theirs.isEmpty, "fail2ban found failures in the log")
        #expect(
            ours.map(\.0) == theirs.map(\.0) && ours.map(\.1) == theirs.map(\.1),
            "Warden \(ours), fail2ban \(theirs)"
        )
    }

    /// A session's lines: the address given once counts for its later failures, a failure before
    /// the address is pending until it comes, a login is no failure, a closed session is forgotten.
    @Test func sessionsCarryTheirAddressAsFail2bansDo() async throws {
        let filter = """
            [Definition]
            prefregex = ^\\s*session <F-MLFID>\\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$
            failregex = ^from <HOST>\\s*$
                        ^<F-NOFAIL>user \\S+ logged in</F-NOFAIL>\\s*$
                        ^bad password(?: for <F-USER>\\S+</F-USER>)?\\s*$
                        ^<F-MLFFORGET>closed</F-MLFFORGET>\\s*$
                        ^<F-NOFAIL>connect from <HOST></F-NOFAIL>\\s*$
            """
        let log = [
            "session 1 from 192.0.2.1", "session 1 bad password", "session 1 bad password", "session 1 closed",
            "session 1 bad password", "session 2 bad password", "session 2 from 192.0.2.2",
            "session 3 from 192.0.2.3", "session 3 user x logged in", "session 4 from 192.0.2.4",
            "session 4 bad password for a", "session 4 bad password for b", "session 4 user b logged in",
            "session 5 bad password", "session 6 from 198.51.100.6", "session 5 from 198.51.100.5",
            "session 7 connect from 203.0.113.7", "session 7 bad password", "session 7 user z logged in",
            "session 8 bad password", "session 8 connect from 203.0.113.8", "session 9 connect from 203.0.113.9",
        ]
        try await agree(log: log, filter: filter)
    }

    /// Long lines under a large `maxlines`: the buffer keeps at most ``Fail2banReader/maxBufferBytes``
    /// of them, the newest, and still finds a failure in what it keeps.
    @Test func aMultiLineBufferOfLongLinesStaysBounded() throws {
        let filter = Fail2banFilter(name: "long", failregex: [#"^login from <HOST>\n^\s*denied$"#], maxlines: 1000)
        var reader = Fail2banReader(try Fail2banMatcher(filter))
        let long = String(repeating: "x", count: 8000)
        for _ in 0..<100 { _ = reader.feed(long) }
        #expect(reader.buffer.count < 100 && reader.buffer.count >= 8, "\(reader.buffer.count) lines held")
        #expect(reader.buffer.reduce(0) { $0 + $1.utf8.count } <= Fail2banReader.maxBufferBytes)
        _ = reader.feed("login from 192.0.2.9")
        #expect(reader.feed("denied") == .init(matched: true, host: "192.0.2.9"))
    }

    /// A match over several lines: `<SKIPLINES>` passes over the lines between, which stay in
    /// the buffer; the lines a failure used leave it.
    @Test func aMultiLineFilterSkipsLinesAndUsesEachOnceAsFail2banDoes() async throws {
        let filter = """
            [Definition]
            failregex = ^\\s*login attempt for \\S+<SKIPLINES>^\\s*denied for <HOST>\\s*$
            maxlines = 4
            """
        let log = [
            "login attempt for bob", "unrelated noise", "denied for 198.51.100.7", "denied for 198.51.100.8",
            "login attempt for eve", "denied for 198.51.100.9", "login attempt for mallory", "a", "b", "c",
            "denied for 198.51.100.10", "login attempt for x", "denied for 198.51.100.11 again",
            "denied for 198.51.100.12", "login attempt for a", "login attempt for b", "denied for 198.51.100.13",
            "denied for 198.51.100.14",
        ]
        try await agree(log: log, filter: filter)
    }
}
