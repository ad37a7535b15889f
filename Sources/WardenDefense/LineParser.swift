import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns one log line into signals about addresses.
///
/// `parse` returns whether the line had the format the parser knows (a line it does not know is
/// how a changed log format shows: see ``BlindnessDetector``), and calls `emit` for each signal.
public protocol LineParser: Sendable {
    func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (_ signal: String, _ address: IPAddress) -> Void) -> Bool

    /// The time `line` states (asked only of lines that emitted something); nil when it states
    /// none. By default the formats ``LogTime`` reads.
    func statedTime(of line: UnsafeBufferPointer<UInt8>, reference: Date) -> Date?
}

extension LineParser {
    public func statedTime(of line: UnsafeBufferPointer<UInt8>, reference: Date) -> Date? {
        LogTime.stamp(line, reference: reference)
    }
}

/// The parser for a watch's `parser:` name.
public enum LineParsers {
    /// The parser for `name` in `spec`: a built-in, one of its `parsers:`, or a jail's filter
    /// (`fail2ban:JAIL`).
    public static func make(_ name: String, spec: DefenseSpec) -> (any LineParser)? {
        if name.hasPrefix("fail2ban:") {
            return spec.jails.first { $0.parserName == name }.flatMap { try? Fail2banParser(jail: $0) }
        }
        return make(name, patterns: spec.parsers)
    }

    public static func make(_ name: String, patterns: [LogPatternSpec]) -> (any LineParser)? {
        guard let builtIn = BuiltInParser(rawValue: name) else {
            return patterns.first { $0.name == name }.flatMap { PatternParser($0) }
        }
        switch builtIn {
        case .sshd: return SSHParser()
        case .nginx, .apache: return AccessLogParser()
        }
    }
}

/// Byte-string searching without allocation.
enum Bytes {
    /// The first index of `needle` in `hay[from...]`.
    static func find(_ hay: UnsafeBufferPointer<UInt8>, _ needle: StaticString, from: Int = 0) -> Int? {
        let m = needle.utf8CodeUnitCount
        guard m > 0, hay.count - from >= m, let base = hay.baseAddress else { return nil }
        let first = needle.utf8Start[0]
        var i = from
        let last = hay.count - m
        while i <= last {
            guard let p = memchr(base + i, Int32(first), last - i + 1) else { return nil }
            i = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + i, needle.utf8Start, m) == 0 { return i }
            i += 1
        }
        return nil
    }

    /// Whether `p` stands at `i` (false when it would start before the buffer or run past it).
    static func hasPrefix(_ hay: UnsafeBufferPointer<UInt8>, at i: Int, _ p: StaticString) -> Bool {
        let m = p.utf8CodeUnitCount
        guard let base = hay.baseAddress, i >= 0, hay.count - i >= m else { return false }
        return memcmp(base + i, p.utf8Start, m) == 0
    }
}

/// nginx and Apache access logs in the common and combined formats: each 4xx answer, and
/// requests for paths only scanners ask for.
public struct AccessLogParser: LineParser {
    public init() {}

    /// Paths that no real user of a site asks for, but every scanner does.
    static let scannerPaths: [StaticString] = [
        "/wp-login.php", "/wp-admin", "/xmlrpc.php", "/.env", "/.git/", "/phpmyadmin", "/pma/", "/cgi-bin/",
        "/boaform", "/hnap1", "/.aws/", "/vendor/phpunit", "/actuator/", "/solr/", "/manager/html", "/setup.cgi",
        "/.ds_store", "/config.json", "/server-status", "/owa/", "/autodiscover", "/shell", "/eval-stdin.php",
    ]

    @_optimize(speed)
    public func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (String, IPAddress) -> Void) -> Bool {
        // ADDRESS - USER [TIME] "METHOD PATH PROTO" STATUS SIZE …
        let sp = line.firstIndex(of: 32) ?? line.count
        // (An empty first field is no address, so that needs no check of its own.)
        guard sp < line.count, let address = IPAddress(bytes: UnsafeBufferPointer(rebasing: line[0..<sp])),
            let open = Bytes.find(line, " [", from: sp), let close = Bytes.find(line, "] \"", from: open)
        else { return false }
        let requestStart = close + 3
        // The request line ends at the first quote that is not escaped (Apache writes `\"` for a
        // quote in the request, nginx `\x22`), so a client cannot end it early and fake a status.
        var requestEnd = requestStart
        while requestEnd < line.count {
            if line[requestEnd] == UInt8(ascii: "\\") {
                requestEnd += 2
                continue
            }
            if line[requestEnd] == UInt8(ascii: "\"") { break }
            requestEnd += 1
        }
        guard requestEnd + 5 <= line.count, line[requestEnd + 1] == 32 else { return false }
        let s = requestEnd + 2
        let d0 = line[s]
        let d1 = line[s + 1]
        let d2 = line[s + 2]
        guard (49...53).contains(d0), (48...57).contains(d1), (48...57).contains(d2) else { return false }
        if d0 == UInt8(ascii: "4") { emit("http.4xx", address) }
        // The path: the request's second word, compared without case.
        var p = requestStart
        while p < requestEnd && line[p] != 32 { p += 1 }
        p += 1
        var e = p
        while e < requestEnd && line[e] != 32 && line[e] != UInt8(ascii: "?") { e += 1 }
        // (An empty path, e == p, matches no scanner path.)
        let lower = line[p..<min(e, p + 256)].map { c in (65...90).contains(c) ? c + 32 : c }
        let hit = lower.withUnsafeBufferPointer { path in Self.scannerPaths.contains { Bytes.find(path, $0) != nil } }
        if hit { emit("http.scanner", address) }
        return true
    }
}

/// A user-defined pattern: a regular expression whose named group `addr` captures the address.
/// Lines that do not match are still "recognized": a custom pattern describes only what it
/// looks for.
public struct PatternParser: LineParser, @unchecked Sendable {
    // NSRegularExpression is immutable and documented as safe to use from several threads.
    let regex: NSRegularExpression
    let signal: String

    public init?(_ spec: LogPatternSpec) {
        guard let regex = try? NSRegularExpression(pattern: spec.pattern) else { return nil }
        self.regex = regex
        self.signal = spec.signal
    }

    public func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (String, IPAddress) -> Void) -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        let ns = text as NSString
        guard let match = regex.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else {
            return true
        }
        let r = match.range(withName: "addr")
        if r.location != NSNotFound, let a = IPAddress(ns.substring(with: r)) { emit(signal, a) }
        return true
    }
}

/// Notices a source that stopped producing lines its parser knows (a changed log format): after
/// `limit` unknown lines in a row it reports once, and again only after a known line was seen.
public struct BlindnessDetector: Sendable {
    public let limit: Int
    var unknownRun = 0
    var reported = false

    public init(limit: Int = 200) { self.limit = limit }

    /// Returns true exactly when the source has just gone blind.
    public mutating func observe(recognized: Bool) -> Bool {
        if recognized {
            unknownRun = 0
            reported = false
            return false
        }
        unknownRun += 1
        if unknownRun >= limit && !reported {
            reported = true
            return true
        }
        return false
    }

    /// Whether the last report has not been cleared by a known line.
    public var isBlind: Bool { reported }
}
