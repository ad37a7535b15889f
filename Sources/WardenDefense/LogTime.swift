import Foundation

/// The time a log line states at its start, as the formats Warden reads write it:
///
/// - ISO 8601 / RFC 3339 (`2026-12-01T10:00:00.123+01:00`, rsyslog's high-precision format and
///   the journal's lines as Warden writes them), without a zone in local time;
/// - syslog's `Dec  1 10:00:00` (no year: the reference's year, or the one before when that
///   would put the line more than a day after the reference);
/// - nginx's error log `2026/12/01 10:00:00` (local time);
/// - the access logs' `[01/Dec/2026:10:00:00 +0100]` after the address.
///
/// Pure and allocation-free on the bytes; nil when the line states no time Warden knows.
public enum LogTime {
    static let months: [StaticString] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    public static func stamp(_ line: UnsafeBufferPointer<UInt8>, reference: Date) -> Date? {
        var s = Scanner(line)
        if let d = s.iso() ?? s.slashed() { return d }
        s.i = 0
        if let d = s.syslog(reference: reference) { return d }
        // An access log: the stamp in brackets after the first word (the address).
        guard let open = (0..<min(line.count, 128)).first(where: { line[$0] == UInt8(ascii: "[") }) else { return nil }
        s.i = open + 1
        return s.access()
    }

    /// Seconds from the epoch of a civil date and time in UTC (Howard Hinnant's days_from_civil).
    static func epoch(_ y: Int, _ m: Int, _ d: Int, _ hh: Int, _ mm: Int, _ ss: Int) -> Double {
        let y2 = m <= 2 ? y - 1 : y
        let era = (y2 >= 0 ? y2 : y2 - 399) / 400
        let yoe = y2 - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + hh * 3600 + mm * 60 + ss)
    }

    /// The year of `date` in local time.
    static func localYear(of date: Date) -> Int { localDay(of: date).year }

    /// The civil day of `date` in local time (Howard Hinnant's civil_from_days; no Calendar per
    /// line).
    static func localDay(of date: Date) -> (year: Int, month: Int, day: Int) {
        let local = date.timeIntervalSince1970 + Double(TimeZone.current.secondsFromGMT(for: date))
        let z = Int((local / 86_400).rounded(.down)) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days in `month` (1–12) of `year`.
    static func daysIn(month: Int, year: Int) -> Int {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// A local civil time as a date (the zone's offset at that moment).
    static func local(_ seconds: Double) -> Date {
        let guess = Date(timeIntervalSince1970: seconds)
        return guess.addingTimeInterval(-Double(TimeZone.current.secondsFromGMT(for: guess)))
    }

    struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

        mutating func number(_ digits: Int) -> Int? {
            guard i + digits <= b.count else { return nil }
            var v = 0
            for k in i..<(i + digits) {
                let c = b[k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += digits
            return v
        }

        mutating func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }

        func valid(_ y: Int, _ m: Int, _ d: Int, _ hh: Int, _ mm: Int, _ ss: Int) -> Bool {
            guard (1970...9999).contains(y), (1...12).contains(m), hh < 24, mm < 60, ss < 61 else { return false }
            return (1...LogTime.daysIn(month: m, year: y)).contains(d)
        }

        /// `HH:MM:SS` and an optional fraction.
        mutating func clock() -> (Int, Int, Int, Double)? {
            guard let hh = number(2), expect(58), let mm = number(2), expect(58), let ss = number(2) else { return nil }
            var fraction = 0.0
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                var scale = 0.1
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    fraction += Double(b[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
            }
            return (hh, mm, ss, fraction)
        }

        /// `Z`, `+HH:MM`, `+HHMM`, or nothing (nil offset: local time).
        mutating func zone() -> Int?? {
            guard i < b.count else { return .some(nil) }
            if b[i] == UInt8(ascii: "Z") {
                i += 1
                return .some(0)
            }
            guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return .some(nil) }
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let h = number(2) else { return nil }
            _ = expect(58)
            guard let m = number(2), h < 24, m < 60 else { return nil }
            return .some(sign * (h * 3600 + m * 60))
        }

        mutating func iso() -> Date? {
            i = 0
            guard let y = number(4), expect(45), let m = number(2), expect(45), let d = number(2),
                i < b.count, b[i] == UInt8(ascii: "T") || b[i] == 32
            else { return nil }
            i += 1
            guard let (hh, mm, ss, f) = clock(), valid(y, m, d, hh, mm, ss), let zone = zone() else { return nil }
            let civil = LogTime.epoch(y, m, d, hh, mm, ss) + f
            guard let offset = zone else { return LogTime.local(civil) }
            return Date(timeIntervalSince1970: civil - Double(offset))
        }

        mutating func slashed() -> Date? {
            i = 0
            guard let y = number(4), expect(47), let m = number(2), expect(47), let d = number(2), expect(32),
                let (hh, mm, ss, f) = clock(), valid(y, m, d, hh, mm, ss)
            else { return nil }
            return LogTime.local(LogTime.epoch(y, m, d, hh, mm, ss) + f)
        }

        mutating func month() -> Int? {
            guard i + 3 <= b.count else { return nil }
            for (k, name) in LogTime.months.enumerated() {
                let p = name.utf8Start
                if b[i] == p[0], b[i + 1] == p[1], b[i + 2] == p[2] {
                    i += 3
                    return k + 1
                }
            }
            return nil
        }

        mutating func syslog(reference: Date) -> Date? {
            guard let m = month(), expect(32) else { return nil }
            if i < b.count, b[i] == 32 { i += 1 }
            let start = i
            guard
                let d = number(2)
                    ?? { () -> Int? in
                        i = start
                        return number(1)
                    }(), expect(32), let (hh, mm, ss, f) = clock()
            else { return nil }
            let refYear = LogTime.localYear(of: reference)
            for year in [refYear, refYear - 1] where valid(year, m, d, hh, mm, ss) {
                let date = LogTime.local(LogTime.epoch(year, m, d, hh, mm, ss) + f)
                if date.timeIntervalSince(reference) <= 86_400 { return date }
            }
            return nil
        }

        mutating func access() -> Date? {
            guard let d = number(2), expect(47), let m = month(), expect(47), let y = number(4), expect(58),
                let (hh, mm, ss, f) = clock(), valid(y, m, d, hh, mm, ss), expect(32), let zone = zone(),
                let offset = zone
            else { return nil }
            return Date(timeIntervalSince1970: LogTime.epoch(y, m, d, hh, mm, ss) + f - Double(offset))
        }
    }
}
