import Foundation

/// fail2ban's date detector: where a log line states its time, and what time it is.
///
/// Without a `datepattern`, fail2ban's default templates (`server/datedetector.py`): ISO 8601
/// and its `/` and `.` cousins, asctime and syslog with or without weekday, year, fraction or a
/// zone in front, `23/01/2005 21:59:59`, Apache's `31/Oct/2006:09:22:55 -0000`, CPanel's,
/// `01-27-2012 16:22:44`, epoch seconds (at the start, in brackets or `audit(…)`), a bare time
/// at the start, `<09/16/08@05:03:30>`, MySQL's `130322 11:46:11`, Tomcat's `Jan 23, 2005
/// 9:59:59 PM`, ASSP's `Apr-27-13 02:33:06`, `20050123T215959`, TAI64N. The leftmost date wins
/// (the longer when two start together).
///
/// A filter's `datepattern` replaces them: fail2ban's `%`-directives (`%Y %y %m %d %H %k %I %M
/// %S %f %z %Z %p %a %A %b %B` and their `%Ex…` forms), `{^LN-BEG}` (at the line's start),
/// `{DATE}` (any default template there), `EPOCH`, `TAI64N`, several patterns on several
/// lines; its first group, if it has one, is the date.
///
/// A date without a year takes the reference's (or the year before, when that would put it more
/// than a day ahead), one without a day the reference's day; without a zone it is local time.
public struct Fail2banDates: Sendable {
    struct Template: @unchecked Sendable {
        // NSRegularExpression is immutable and documented as safe to use from several threads.
        let regex: NSRegularExpression
        /// Whether group 1 is the date (a pattern with a group of its own); otherwise the match.
        let grouped: Bool
        /// Made from the operator's text (not fail2ban's fixed templates alone): searched under
        /// the line's deadline.
        var operators = false
    }

    let templates: [Template]

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Where the date is in a line, and the time it states (nil when it is no real date).
    public struct Found: Sendable, Equatable {
        public var range: NSRange
        public var date: Date?
    }

    /// fail2ban's default templates, as regexes with fail2ban's directives still in them.
    static let defaultPatterns: [String] = [
        #"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?"#,
        #"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?"#,
        #"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?"#,
        #"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S"#,
        #"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?"#,
        #"%m/%d/%ExY:%H:%M:%S"#,
        #"%m-%d-%ExY %k:%M:%S(?:\.%f)?"#,
        "EPOCH",
        #"{^LN-BEG}%H:%M:%S"#,
        #"^<%m/%d/%Exy@%H:%M:%S>"#,
        #"%Exy%Exm%Exd  ?%H:%M:%S"#,
        #"%b %d, %ExY %I:%M:%S %p"#,
        #"^%b-%d-%Exy %k:%M:%S"#,
        #"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?"#,
        #"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?"#,
        #"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?"#,
        "TAI64N",
    ]

    /// The most templates a `datepattern` may make.
    public static let maxTemplates = 64

    /// fail2ban's default templates.
    public static let defaults: Fail2banDates = {
        // The defaults are fixed text: they compile, or Warden itself is broken.
        do { return try Fail2banDates(templates: defaultPatterns.map { try compile($0) }) } catch {
            fatalError("fail2ban's default date templates: \(error)")
        }
    }()

    init(templates: [Template]) { self.templates = templates }

    /// The templates of a filter's `datepattern` (one pattern a line): `{^LN-BEG}` alone is
    /// the default templates at the line's start, `{DEFAULT}` the defaults, `{NONE}` no date.
    public init(datepattern: String) throws(Failure) {
        var templates: [Template] = []
        var none = false
        for line in datepattern.split(whereSeparator: \.isNewline) {
            let pattern = line.trimmingCharacters(in: .whitespaces)
            guard !pattern.isEmpty else { continue }
            let key = pattern.contains("%") ? pattern : pattern.uppercased()
            switch key {
            case "{^LN-BEG}":
                for d in Self.defaultPatterns {
                    let anchored = d.hasPrefix("^") || d.hasPrefix("{^LN-BEG}") ? d : "{^LN-BEG}" + d
                    templates.append(try Self.compile(anchored))
                }
            case "{DEFAULT}": templates += Self.defaults.templates
            case "{NONE}": none = true
            case _ where key.range(of: "{DATE}", options: .caseInsensitive) != nil:
                for d in Self.defaultPatterns where d != "EPOCH" && d != "TAI64N" {
                    let body =
                        d.hasPrefix("{^LN-BEG}") ? String(d.dropFirst(9)) : d.hasPrefix("^") ? String(d.dropFirst()) : d
                    let whole = pattern.replacingOccurrences(of: "{DATE}", with: body, options: .caseInsensitive)
                    var t = try Self.compile(whole)
                    t.operators = true
                    templates.append(t)
                }
            default:
                var t = try Self.compile(pattern)
                t.operators = true
                templates.append(t)
            }
        }
        guard !templates.isEmpty || none else { throw Failure(description: "datepattern is empty") }
        // Every template is tried on every line: a pattern of thousands of lines would cost that.
        guard templates.count <= Self.maxTemplates else {
            throw Failure(
                description:
                    "datepattern makes \(templates.count) templates; at most \(Self.maxTemplates) (a {DATE} line makes 15)"
            )
        }
        self.templates = templates
    }

    /// fail2ban's directives as regex groups (Warden's group names: `d` and the directive).
    static let directives: [String: String] = [
        "Y": #"(?<dY>\d{4})"#, "ExY": #"(?<dY>20\d{2})"#, "y": #"(?<dy>\d{2})"#, "Exy": #"(?<dy>\d{2})"#,
        "m": #"(?<dm>0?[1-9]|1[0-2])"#, "Exm": #"(?<dm>0[1-9]|1[0-2])"#,
        "d": #"(?<dd>[1-2]\d|[0 ]?[1-9]|3[0-1])"#, "Exd": #"(?<dd>[1-2]\d|0[1-9]|3[0-1])"#,
        "H": #"(?<dH>[0-1]?\d|2[0-3])"#, "ExH": #"(?<dH>[0-1]\d|2[0-3])"#, "k": #" ?(?<dH>[0-2]?\d)"#,
        "Exk": #" ?(?<dH>[0-1]?\d|2[0-3])"#, "I": #"(?<dI>1[0-2]|0[1-9]|[1-9])"#, "l": #" ?(?<dI>1?\d)"#,
        "Exl": #" ?(?<dI>1[0-2]|\d)"#, "M": #"(?<dM>[0-5]?\d)"#, "ExM": #"(?<dM>[0-5]\d)"#,
        "S": #"(?<dS>[0-5]?\d|6[0-1])"#, "ExS": #"(?<dS>[0-5]\d|6[0-1])"#, "f": #"(?<df>[0-9]{1,6})"#,
        "z": #"(?<dz>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)"#, "Z": #"(?<dZ>Z|[A-Z]{3,5})"#,
        "Exz": #"(?<dz>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)"#,
        "ExZ": #"(?<dZ>[A-Z](?:[A-Z]{2,4})?)"#, "p": #"(?<dp>AM|PM)"#,
        "a": #"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"#,
        "A": #"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"#,
        "b": #"(?<db>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"#,
        "B": #"(?<dB>January|February|March|April|May|June|July|August|September|October|November|December)"#,
    ]

    /// A capturing group without a name: the pattern says where its date is.
    nonisolated(unsafe) static let unnamedGroup = try! NSRegularExpression(pattern: #"(?<!\\)\((?!\?)"#)

    /// One pattern as a template: directives expanded, Python's syntax translated, bounded by
    /// word (or line) boundaries as fail2ban bounds its templates.
    static func compile(_ pattern: String) throws(Failure) -> Template {
        var p = pattern
        var lineStart = false
        if p.hasPrefix("{^LN-BEG}") {
            p.removeFirst(9)
            lineStart = true
        }
        switch p.uppercased() {
        case "EPOCH":
            let start = lineStart ? #"^(?:\W{0,2})?"# : #"(?:^|(?<=^\[)|(?<=audit\())"#
            return try regex(start + #"((?<depoch>\d{10,11})(?:\.\d{3,6})?)\b"#, grouped: true, caseless: false)
        case "TAI64N":
            return try regex(#"(?:^|(?<=^\W))(@(?<dtai>[0-9a-fA-F]{24}))"#, grouped: true, caseless: false)
        default: break
        }
        // `**` at either end: no word boundary there (fail2ban's marks).
        var noBegin = false
        var noEnd = false
        if let r = p.range(of: #"^\(*\*\*"#, options: .regularExpression) {
            noBegin = true
            p.replaceSubrange(r, with: p[r].dropLast(2))
        }
        if let r = p.range(of: #"(?<!\\)\*\*\)*$"#, options: .regularExpression) {
            noEnd = true
            p.replaceSubrange(r, with: p[r].dropFirst(2))
        }
        var out = ""
        var rest = Substring(p)
        var caseless = false
        while let pc = rest.firstIndex(of: "%") {
            out += rest[..<pc]
            var after = rest[rest.index(after: pc)...]
            if after.first == "%" {
                out += "%"
                rest = after.dropFirst()
                continue
            }
            let ex = after.hasPrefix("Ex")
            if ex { after = after.dropFirst(2) }
            guard let letter = after.first else { throw Failure(description: "datepattern '\(pattern)' ends in '%'") }
            let name = (ex ? "Ex" : "") + String(letter)
            guard let group = directives[name] else {
                throw Failure(
                    description: "datepattern '\(pattern.prefix(80))': %\(name) is not a date directive fail2ban knows"
                )
            }
            if "aAbBp".contains(letter) { caseless = true }
            out += group
            rest = after.dropFirst()
        }
        out += rest
        // fail2ban's own group names are Python's; ICU wants letters and digits.
        let translated: String
        do {
            translated = try Fail2banRegex.translate(out).0
        } catch {
            throw Failure(description: "datepattern '\(pattern.prefix(80))': \(error)")
        }
        let grouped =
            unnamedGroup.firstMatch(
                in: translated,
                range: NSRange(location: 0, length: (translated as NSString).length)
            )
            != nil
        let anchored = translated.hasPrefix("^") || translated.hasPrefix("(?:^") || translated.hasPrefix("(^")
        var bounded = grouped ? translated : "(" + translated + ")"
        if lineStart {
            bounded = #"^(?:\W{0,2})?"# + bounded
        } else if !anchored && !noBegin {
            bounded = #"(?:^|\b|(?<=\W))"# + bounded
        }
        let openEnded = noEnd || translated.hasSuffix("$") || translated.hasSuffix("\\b") || translated.hasSuffix("\\s")
        if !openEnded { bounded += #"(?=\b|\W|$)"# }
        return try regex(bounded, grouped: true, caseless: caseless)
    }

    static func regex(_ pattern: String, grouped: Bool, caseless: Bool) throws(Failure) -> Template {
        do {
            let r = try NSRegularExpression(pattern: pattern, options: caseless ? [.caseInsensitive] : [])
            return Template(regex: r, grouped: grouped)
        } catch {
            throw Failure(description: "datepattern: ICU does not take '\(pattern.prefix(200))'")
        }
    }

    /// The leftmost date in `line` (the longer when two start together, the first template when
    /// one starts the line), or nil.
    ///
    /// A `datepattern` is the operator's and a line is anyone's: past `deadline` (ICU reports
    /// progress during a long search) the search stops and the line has no date.
    public func find(in line: String, reference: Date, deadline: ContinuousClock.Instant? = nil) -> Found? {
        let ns = line as NSString
        let all = NSRange(location: 0, length: min(ns.length, 4096))
        var best: (NSTextCheckingResult, NSRange)?
        /// Keeps `m` if it is the best so far; true when no other can beat it.
        func consider(_ m: NSTextCheckingResult) -> Bool {
            // Group 1 is the date (a `(` taken for a group may have been in a class: none then).
            let r = m.numberOfRanges < 2 || m.range(at: 1).location == NSNotFound ? m.range : m.range(at: 1)
            if let b = best?.1, b.location < r.location || (b.location == r.location && b.length >= r.length) {
                return false
            }
            best = (m, r)
            // A date at the very start: no other can be further left (fail2ban too stops at the
            // first template that matches, most lines' dates being there).
            return r.location == 0
        }
        for t in templates {
            // fail2ban's own templates are fixed and linear: searched without progress reports.
            guard t.operators, let deadline else {
                if let m = t.regex.firstMatch(in: line, range: all), consider(m) { break }
                continue
            }
            var found: NSTextCheckingResult?
            var late = false
            t.regex.enumerateMatches(in: line, options: [.reportProgress], range: all) { m, _, stop in
                if ContinuousClock.now > deadline {
                    late = true
                    stop.pointee = true
                } else if let m {
                    found = m
                    stop.pointee = true
                }
            }
            if late { return nil }
            if let m = found, consider(m) { break }
        }
        guard let (m, range) = best else { return nil }
        return Found(range: range, date: Self.date(of: m, in: ns, reference: reference))
    }

    /// Seconds east of UTC of a zone as fail2ban reads it: `Z`, `UTC`, `GMT`, an offset
    /// (`+01`, `-0400`, `+05:30`), an abbreviation it knows (fixed offsets: `CET` is always
    /// +1), or both (`CET+0100`); nil for one it does not know (local time, then).
    static func zoneOffset(_ zone: String) -> Int? {
        var name = Substring(zone)
        var rest = Substring("")
        if let sign = zone.firstIndex(where: { $0 == "+" || $0 == "-" }) {
            name = zone[..<sign]
            rest = zone[sign...]
        }
        var minutes = 0
        if !name.isEmpty {
            guard let known = abbreviations[String(name)] else { return nil }
            minutes = known
        }
        if !rest.isEmpty {
            let sign = rest.first == "-" ? -1 : 1
            let digits = rest.dropFirst().filter(\.isNumber)
            guard digits.count >= 2, let h = Int(digits.prefix(2)) else { return nil }
            minutes += sign * (h * 60 + (Int(digits.dropFirst(2).prefix(2)) ?? 0))
        }
        return minutes * 60
    }

    /// Zone abbreviations fail2ban reads, by their offset in hours (fixed, no daylight saving).
    static let abbreviations: [String: Int] = {
        let table: [(Double, String)] = [
            (-12, "Y"), (-11, "X NUT SST"), (-10, "W CKT HAST HST TAHT TKT"), (-9, "V AKST GAMT GIT HADT HNY"),
            (-8, "U AKDT CIST HAY HNP PST PT"), (-7, "T HAP HNR MST PDT"), (-6, "S CST EAST GALT HAR HNC MDT"),
            (-5, "R CDT COT EASST ECT EST ET HAC HNE PET"), (-4, "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT"),
            (-3, "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT"), (-2, "O BRST FNT PMDT UYST WGST"),
            (-1, "N AZOT CVT EGT"), (0, "Z EGST GMT UTC WET WT"), (1, "A CET DFT WAT WEDT WEST"),
            (2, "B CAT CEDT CEST EET SAST WAST"), (3, "C EAT EEDT EEST IDT MSK"),
            (4, "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT"),
            (5, "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT"),
            (6, "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST"), (7, "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB"),
            (8, "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST"),
            (9, "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT"), (10, "K AEST ChST PGT VLAT YAKST YAPT"),
            (11, "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT"),
            (12, "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT"),
            (13, "FJST NZDT"), (11.5, "NFT"), (10.5, "ACDT LHST"), (9.5, "ACST"), (6.5, "CCT MMT"), (5.75, "NPT"),
            (5.5, "SLT"), (4.5, "AFT IRDT"), (3.5, "IRST"), (-2.5, "HAT NDT"), (-3.5, "HNT NST NT"), (-4.5, "HLV VET"),
            (-9.5, "MART MIT"),
        ]
        var offsets: [String: Int] = [:]
        for (hours, names) in table {
            for name in names.split(separator: " ") { offsets[String(name)] = Int(hours * 60) }
        }
        return offsets
    }()

    /// The time the directives' groups state.
    static func date(of m: NSTextCheckingResult, in ns: NSString, reference: Date) -> Date? {
        func text(_ name: String) -> String? {
            let r = m.range(withName: name)
            return r.location == NSNotFound ? nil : ns.substring(with: r)
        }
        func number(_ name: String) -> Int? { text(name).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        if let epoch = text("depoch"), let seconds = Double(epoch) {
            let whole = m.numberOfRanges > 1 && m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range
            let fraction = whole.length > epoch.utf16.count ? ns.substring(with: whole) : epoch
            return Date(timeIntervalSince1970: Double(fraction) ?? seconds)
        }
        if let tai = text("dtai") {
            // TAI64N: 2^62 + seconds, then nanoseconds (fail2ban reads the seconds as Unix time).
            guard let s = UInt64(tai.prefix(16), radix: 16), s >= 1 << 62 else { return nil }
            return Date(timeIntervalSince1970: Double(s - (1 << 62)))
        }
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let month =
            number("dm")
            ?? (text("db") ?? text("dB")).flatMap { name in
                months.firstIndex(of: String(name.prefix(3)).lowercased()).map { $0 + 1 }
            }
        var hour = number("dH")
        if let h12 = number("dI") {
            let pm = text("dp")?.uppercased() == "PM"
            hour = h12 % 12 + (pm ? 12 : 0)
        }
        guard let hour, let minute = number("dM") else { return nil }
        let second = min(number("dS") ?? 0, 59)
        // fail2ban reads whole seconds (a fraction is matched, not counted).
        let offset = (text("dz") ?? text("dZ")).flatMap(zoneOffset)
        func at(_ y: Int, _ mo: Int, _ d: Int) -> Date? {
            guard (1...12).contains(mo), d >= 1, d <= LogTime.daysIn(month: mo, year: y) else { return nil }
            let civil = LogTime.epoch(y, mo, d, hour, minute, second)
            if let offset { return Date(timeIntervalSince1970: civil - Double(offset)) }
            return LogTime.local(civil)
        }
        guard let month, let day = number("dd") else {
            // A time alone: today's as the reference has it, or yesterday's when that is ahead.
            let (y, mo, d) = LogTime.localDay(of: reference)
            guard let today = at(y, mo, d) else { return nil }
            return today > reference ? today.addingTimeInterval(-86_400) : today
        }
        if let y = number("dY") ?? number("dy").map({ 2000 + $0 }) { return at(y, month, day) }
        let year = LogTime.localYear(of: reference)
        if let date = at(year, month, day), date.timeIntervalSince(reference) <= 86_400 { return date }
        return at(year - 1, month, day)
    }
}
