import Foundation
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenDefense

/// Where a line's date is and what time it states, checked against fail2ban's own date detector
/// (its Python module, as Debian installs it) on the same lines, reference time and patterns.
@Suite("fail2ban's date detector")
struct Fail2banDatesTests {
    /// A line and the `datepattern` it is read with (nil: fail2ban's default templates).
    struct Case {
        var line: String
        var pattern: String?
    }

    static let cases: [Case] = [
        // The default templates, one or more lines each.
        Case(line: "2026-11-30T10:00:00.123+01:00 host sshd[1]: Failed password"),
        Case(line: "2026/11/30 10:00:00 [error] 2865#0: *1 user \"x\": password mismatch"),
        Case(line: "2006.12.21 06:43:20 syslog-ng style"),
        Case(line: "Nov 30 10:00:00 host sshd[1]: x"),
        Case(line: "Dec  1 09:59:59 host sshd[1]: a day ahead of nothing"),
        Case(line: "Dec 25 10:00:00 host: from last year's Christmas"),
        Case(line: "Sun Jan 23 21:59:59.011 2005 x"),
        Case(line: "Sun Jan 23 2005 21:59:59.011 x"),
        Case(line: "23/01/2005 21:59:59 x11vnc"),
        Case(line: "17-07-08 17:23:25 two-digit year"),
        Case(line: "192.0.2.1 - - [31/Oct/2006:09:22:55 -0000] \"GET / HTTP/1.1\" 401"),
        Case(line: "[26-Jul-2007 15:20:52.252] named"),
        Case(line: "05/20/2008:01:57:39 cpanel"),
        Case(line: "01-27-2012 16:22:44.252 x"),
        Case(line: "1796119200 epoch at the start"),
        Case(line: "[1796119200.123] epoch in brackets"),
        Case(line: "type=USER_LOGIN msg=audit(1796119200.123:42): selinux"),
        Case(line: "<09/16/08@05:03:30> a"),
        Case(line: "130322 11:46:11 mysql"),
        Case(line: "Jan 23, 2005 9:59:59 PM org.apache.catalina"),
        Case(line: "Apr-27-13 02:33:06 assp"),
        Case(line: "20050123T215959 compact"),
        Case(line: "PDT Apr 16 21:05:29 monit"),
        Case(line: "@4000000063a1b2c30000000a tai64n"),
        Case(line: "no date here at all"),
        Case(line: "11-06-2013 02:09:40 +0300 day first with a zone"),
        Case(line: "10:00:00 a time alone at the start"),
        // Patterns filters give.
        Case(line: "Nov 30 10:00:00 host sshd[1]: x", pattern: "{^LN-BEG}"),
        Case(line: "x Nov 30 10:00:00 host sshd[1]: not at the start", pattern: "{^LN-BEG}"),
        Case(line: "1796119200 epoch", pattern: "{^LN-BEG}Epoch"),
        Case(line: "[30/Nov/2026 10:00:00] x", pattern: #"^\[%d/%b/%Y %H:%M:%S\]"#),
        Case(
            line: "=INFO REPORT==== 2026-11-30 10:00:00 ===",
            pattern: #"^(?:=[^=]+={3,} )?(%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\s*%z)?)"#
                + "\n" + #"^I\(()**"#
        ),
        Case(line: "I(<0.1.2>:ejabberd_c2s:1): failed", pattern: #"^I\(()**"#),
        Case(line: "Nov 30, 2026 9:59:59 PM org.apache", pattern: "^%b %d, %ExY %I:%M:%S %p"),
        Case(line: "10:00:00.123 webapp", pattern: "^%H:%M:%S.%f"),
        Case(line: "prefix [2026-11-30 10:00:00] x", pattern: #"^[^\[]*\[({DATE})"#),
        Case(line: "t=2026-11-30T10:00:00+0100 lvl=eror", pattern: "^t=%Y-%m-%dT%H:%M:%S%z"),
    ]

    @Test func datesAreFoundAndReadAsFail2bansDetectorReadsThem() async throws {
        let reference = Date(timeIntervalSince1970: 1_796_119_200)  // 2026-12-01 10:00:00 UTC
        let dir = TempDir("warden-f2b-dates")
        let script = dir.write(
            "dd.py",
            """
            import sys, json
            sys.path.insert(0, '/usr/lib/python3/dist-packages')
            from fail2ban.server.datedetector import DateDetector
            from fail2ban.server.mytime import MyTime
            req = json.load(open(sys.argv[1]))
            MyTime.setTime(req["reference"])
            out = []
            for case in req["cases"]:
                dd = DateDetector()
                if case.get("pattern") is None:
                    dd.addDefaultTemplate()
                else:
                    for p in case["pattern"].split("\\n"):
                        dd.appendTemplate(p)
                m = dd.matchTime(case["line"])
                if not m or not m[0]:
                    out.append(None)
                    continue
                t = dd.getTime(case["line"], m)
                out.append({"start": m[0].start(1), "end": m[0].end(1), "time": t[0] if t else None})
            print(json.dumps(out))
            """
        )
        let request: [String: Any] = [
            "reference": reference.timeIntervalSince1970,
            "cases": Self.cases.map { c -> [String: Any] in ["line": c.line, "pattern": c.pattern ?? NSNull()] },
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        let input = dir.write("cases.json", json)
        let r = try await runCommand("/usr/bin/python3", [script, input])
        #expect(r.exitCode == 0, "fail2ban's detector: \(r.stderr)")
        let theirs = try #require(JSONValue.parse(r.stdout)?.arrayValue, "\(r.stdout)")
        try #require(theirs.count == Self.cases.count)
        var agreed = 0
        for (c, expected) in zip(Self.cases, theirs) {
            let dates = try c.pattern.map { try Fail2banDates(datepattern: $0) } ?? .defaults
            let found = dates.find(in: c.line, reference: reference)
            let same: Bool
            if case .null = expected {
                same = found == nil || found?.range.length == 0
            } else {
                let start = Int(expected["start"]?.intValue ?? -1)
                let end = Int(expected["end"]?.intValue ?? -1)
                let time = expected["time"]?.doubleValue
                if start == end {
                    // An empty date (the pattern says the line has none): Warden takes the
                    // line's arrival, fail2ban the last date it read.
                    same = found?.range == NSRange(location: start, length: 0) && found?.date == nil
                } else {
                    same =
                        found?.range == NSRange(location: start, length: end - start)
                        && (time == nil || abs((found?.date?.timeIntervalSince1970 ?? 0) - time!) < 0.001)
                }
            }
            if same { agreed += 1 }
            #expect(
                same,
                "'\(c.line)' with \(c.pattern ?? "the defaults"): fail2ban \(expected), Warden \(String(describing: found))"
            )
        }
        #expect(agreed == Self.cases.count)
    }

    /// An operator's pattern that backtracks catastrophically on a crafted line: the search stops
    /// at the deadline and the line has no date.
    @Test func aDatePatternThatBacktracksForEverIsCutOff() throws {
        let dates = try Fail2banDates(datepattern: #"^(?:a+)+b%H:%M:%S"#)
        let line = String(repeating: "a", count: 64) + "!"
        let started = ContinuousClock.now
        #expect(dates.find(in: line, reference: Date(), deadline: .now + .milliseconds(50)) == nil)
        // Exponential without the deadline (0.5 s at 24 characters, four times more every two).
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func badDatePatternsAreRefusedWithTheReason() {
        let many = Array(repeating: "{DATE}", count: 5).joined(separator: "\n")
        for (pattern, reason) in [
            ("%Q %d", "%Q is not a date directive"), ("^(%d", "ICU does not take"), ("%", "ends in '%'"),
            (many, "datepattern makes 75 templates; at most 64"),
        ] {
            #expect(throws: Fail2banDates.Failure.self) { try Fail2banDates(datepattern: pattern) }
            do {
                _ = try Fail2banDates(datepattern: pattern)
            } catch {
                #expect(error.description.contains(reason), "\(error)")
            }
        }
    }
}
