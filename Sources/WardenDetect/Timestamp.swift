/// Parses the timestamps of telemetry files without Foundation's date formatters.
///
/// Accepts `YYYY-MM-DD HH:MM:SS` with an optional fraction (`.ffffff`), a `T` instead of the space
/// and a trailing `Z`; times are taken as UTC. NAB's data and label files use exactly these forms.
public enum Timestamp {
    /// Microseconds since 1970-01-01 00:00:00 UTC, or nil when `text` is not such a timestamp.
    public static func microseconds(_ text: some StringProtocol) -> Int64? {
        var utf8 = Array(text.utf8)
        while let last = utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "Z") { utf8.removeLast() }
        guard utf8.count >= 19 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<from + count {
                let c = utf8[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            utf8[10] == UInt8(ascii: " ") || utf8[10] == UInt8(ascii: "T"),
            utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var micros: Int64 = 0
        if utf8.count > 19 {
            guard utf8[19] == UInt8(ascii: "."), utf8.count > 20, utf8.count <= 29 else { return nil }
            let digits = utf8.count - 20
            guard let fraction = number(20, digits) else { return nil }
            micros = fraction
            for _ in digits..<6 { micros *= 10 }
            for _ in 6..<max(digits, 6) { micros /= 10 }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros
    }

    /// Seconds since the epoch, or nil.
    public static func seconds(_ text: some StringProtocol) -> Double? {
        microseconds(text).map { Double($0) / 1e6 }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
