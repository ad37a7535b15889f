import Foundation
import Testing
import WardenDefense

/// The times log lines state, in the formats Warden reads.
@Suite("Log time")
struct LogTimeTests {
    func stamp(_ line: String, _ reference: String = "2026-12-01T12:00:00Z") -> Date? {
        let ref = ISO8601DateFormatter().date(from: reference)!
        return Array(line.utf8).withUnsafeBufferPointer { LogTime.stamp($0, reference: ref) }
    }

    func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    /// Local civil time, as the zone-less formats are read.
    func local(_ y: Int, _ m: Int, _ d: Int, _ h: Int, _ min: Int, _ s: Int) -> Date {
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (y, m, d, h, min, s)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = .current
        return cal.date(from: c)!
    }

    @Test func eachFormatGivesItsTime() {
        #expect(
            stamp("2026-11-30T23:59:58.5+01:00 host sshd[1]: x") == utc("2026-11-30T22:59:58Z").addingTimeInterval(0.5)
        )
        #expect(stamp("2026-11-30T23:59:58Z host sshd[1]: x") == utc("2026-11-30T23:59:58Z"))
        #expect(stamp("2026-11-30 23:59:58,250 x") == local(2026, 11, 30, 23, 59, 58).addingTimeInterval(0.25))
        #expect(stamp("2026/11/30 08:07:06 [error] 1#0: x") == local(2026, 11, 30, 8, 7, 6))
        #expect(stamp("Nov 30 08:07:06 host sshd[1]: x") == local(2026, 11, 30, 8, 7, 6))
        #expect(stamp("Dec  1 08:07:06 host sshd[1]: x") == local(2026, 12, 1, 8, 7, 6))
        #expect(
            stamp(#"203.0.113.5 - - [30/Nov/2026:08:07:06 -0500] "GET / HTTP/1.1" 200 1"#)
                == utc("2026-11-30T13:07:06Z")
        )
    }

    /// syslog writes no year: a line more than a day after the reading is from last year.
    @Test func syslogsYearIsTheReadersOrTheOneBefore() {
        #expect(stamp("Dec 31 23:00:00 h p[1]: x", "2027-01-01T00:30:00Z") == local(2026, 12, 31, 23, 0, 0))
        #expect(stamp("Jan  1 00:10:00 h p[1]: x", "2027-01-01T00:30:00Z") == local(2027, 1, 1, 0, 10, 0))
        #expect(stamp("Feb 29 10:00:00 h p[1]: x", "2029-03-01T00:00:00Z") == local(2028, 2, 29, 10, 0, 0))
    }

    /// What is not a time Warden knows is no time, not a wrong one.
    @Test func malformedStampsAreNoTime() {
        for line in [
            "", "x", "Foo 30 08:07:06 h", "Nov 30 25:07:06 h", "2026-13-01T00:00:00Z h", "2026-11-30T23:59 h",
            "2026-11-30T23:59:58+99:00 h", "9 - - [30/Nov/2026:08:07:06] x", "Nov", "2026/11/30",
            "0000-01-01T00:00:00Z",
            String(repeating: "[", count: 5000),
        ] {
            #expect(stamp(line) == nil, "\(line.prefix(40))")
        }
    }
}
