import CWardenSys
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What /proc/PID/stat says about a process.
public struct ProcStat: Sendable, Hashable {
    public var pid: pid_t
    public var command: String
    /// R, S, D, Z, T…
    public var state: Character
    public var ppid: pid_t
    public var pgrp: pid_t
    public var session: pid_t
    /// User and system CPU time, in clock ticks.
    public var utime: UInt64
    public var stime: UInt64
    /// Start time in clock ticks after boot: with the pid, it identifies a process for good.
    public var startTime: UInt64
    /// Resident pages.
    public var rssPages: Int64

    public var isZombie: Bool { state == "Z" || state == "X" }
}

/// Reading /proc without allocating more than needed.
public enum ProcFS {
    /// Clock ticks per second for CPU and start times.
    public static let ticksPerSecond = UInt64(max(1, warden_clock_ticks()))
    /// Bytes per page for RSS.
    public static let pageSize = Int64(max(1, warden_page_size()))

    /// Reads /proc/`pid`/stat; nil when the process is gone.
    ///
    /// Allocation-free but for a long command name.
    public static func stat(_ pid: pid_t) -> ProcStat? {
        let fd = openStat(pid)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return stat(fd: fd)
    }

    /// Opens /proc/`pid`/stat to be read with `stat(fd:)`, as often as needed; -1 when the
    /// process is gone. The descriptor stays bound to that process: once it has exited (and was
    /// reaped), reading fails even if its pid is reused. The caller closes it.
    public static func openStat(_ pid: pid_t) -> Int32 {
        // "/proc/<pid>/stat\0" written by hand: an interpolated String allocates.
        var path: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &path) { raw -> Int32 in
            var n = 0
            for c in "/proc/".utf8 {
                raw[n] = c
                n += 1
            }
            n += writeDecimal(UInt64(max(0, pid)), into: UnsafeMutableRawBufferPointer(rebasing: raw[n...]))
            for c in "/stat".utf8 {
                raw[n] = c
                n += 1
            }
            raw[n] = 0
            return open(raw.baseAddress!.assumingMemoryBound(to: CChar.self), O_RDONLY | O_CLOEXEC)
        }
    }

    /// Reads a stat file opened by `openStat` afresh (from offset 0: the kernel writes it anew
    /// for every read); nil when the process is gone.
    public static func stat(fd: Int32) -> ProcStat? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
            var total = 0
            while total < buffer.count {
                let got = pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(total))
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                total += got
            }
            return parseStat(UnsafeBufferPointer(rebasing: buffer[..<total]))
        }
    }

    /// Writes `value` in decimal; returns the number of bytes written.
    static func writeDecimal(_ value: UInt64, into out: UnsafeMutableRawBufferPointer) -> Int {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { tmp in
            var v = value
            var k = 0
            repeat {
                tmp[k] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                k += 1
            } while v > 0
            for i in 0..<k { out[i] = tmp[k - 1 - i] }
            return k
        }
    }

    /// Parses the text of a /proc/PID/stat file.
    public static func parseStat(_ text: String) -> ProcStat? {
        var copy = text
        return copy.withUTF8 { parseStat($0) }
    }

    /// Parses the bytes of a /proc/PID/stat file: `pid (comm) state ppid pgrp session … utime
    /// stime … starttime vsize rss …` (proc(5)); the command may hold spaces and parentheses, so
    /// it ends at the last ')'.
    public static func parseStat(_ bytes: UnsafeBufferPointer<UInt8>) -> ProcStat? {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
            let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open
        else { return nil }
        var i = 0
        while i < open && bytes[i] == 32 { i += 1 }
        guard let pid = number(bytes, &i, end: open).flatMap({ pid_t(exactly: $0) }) else { return nil }
        // Fields from 3 (state) on, separated by spaces.
        var state: UInt8 = 0
        var ppid: UInt64 = 0
        var pgrp: UInt64 = 0
        var session: UInt64 = 0
        var utime: UInt64 = 0
        var stime: UInt64 = 0
        var startTime: UInt64 = 0
        var rss: UInt64 = 0
        var field = 3
        i = close + 1
        while i < bytes.count && field <= 24 {
            while i < bytes.count && bytes[i] == 32 { i += 1 }
            guard i < bytes.count else { break }
            let start = i
            while i < bytes.count && bytes[i] != 32 { i += 1 }
            var j = start
            switch field {
            case 3: state = bytes[start]
            case 4: ppid = number(bytes, &j, end: i) ?? 0
            case 5: pgrp = number(bytes, &j, end: i) ?? 0
            case 6: session = number(bytes, &j, end: i) ?? 0
            case 14: utime = number(bytes, &j, end: i) ?? 0
            case 15: stime = number(bytes, &j, end: i) ?? 0
            case 22: startTime = number(bytes, &j, end: i) ?? 0
            case 24: rss = number(bytes, &j, end: i) ?? 0
            default: break
            }
            field += 1
        }
        guard field > 24, state != 0 else { return nil }
        func pidField(_ v: UInt64) -> pid_t { pid_t(truncatingIfNeeded: Int64(bitPattern: v)) }
        return ProcStat(
            pid: pid,
            command: String(decoding: UnsafeBufferPointer(rebasing: bytes[(open + 1)..<close]), as: UTF8.self),
            state: Character(Unicode.Scalar(state)),
            ppid: pidField(ppid),
            pgrp: pidField(pgrp),
            session: pidField(session),
            utime: utime,
            stime: stime,
            startTime: startTime,
            rssPages: Int64(bitPattern: rss)
        )
    }

    /// The decimal number at `i` (an optional leading '-', as in negative fields), up to the first
    /// byte that is not a digit; nil when there is no digit or it overflows 64 bits.
    static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ i: inout Int, end: Int) -> UInt64? {
        var negative = false
        if i < end && bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var v: UInt64 = 0
        var any = false
        while i < end, bytes[i] >= 48, bytes[i] <= 57 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 48))
            guard !o1 && !o2 else { return nil }
            v = a
            any = true
            i += 1
        }
        guard any else { return nil }
        return negative ? UInt64(bitPattern: -Int64(truncatingIfNeeded: v)) : v
    }

    /// The pid most recently handed out in this pid namespace (the last field of /proc/loadavg):
    /// it moves whenever any process or thread is created. Nil when unreadable.
    public static func lastPid() -> Int64? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> Int64? in
            let fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            let got = read(fd, buffer.baseAddress!, buffer.count)
            guard got > 0 else { return nil }
            var end = got
            while end > 0 && (buffer[end - 1] < 48 || buffer[end - 1] > 57) { end -= 1 }
            var start = end
            while start > 0 && buffer[start - 1] >= 48 && buffer[start - 1] <= 57 { start -= 1 }
            guard start < end, start > 0, buffer[start - 1] == 32 else { return nil }
            var i = start
            return number(UnsafeBufferPointer(buffer), &i, end: end).flatMap { Int64(exactly: $0) }
        }
    }

    /// Every pid in /proc.
    public static func allPids() -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var pids: [pid_t] = []
        pids.reserveCapacity(512)
        while let entry = readdir(dir) {
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { raw -> pid_t? in
                var v: Int32 = 0
                var any = false
                for c in raw {
                    if c == 0 { break }
                    guard c >= 48, c <= 57, v < 100_000_000 else { return nil }
                    v = v * 10 + Int32(c - 48)
                    any = true
                }
                return any ? v : nil
            }
            if let pid { pids.append(pid) }
        }
        return pids
    }

    /// The environment a process was started with; nil when unreadable.
    public static func environment(_ pid: pid_t) -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var env: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        }
        return env
    }

    /// Whether a process with this pid and start time still exists (and is not a zombie).
    public static func isAlive(pid: pid_t, startTime: UInt64) -> Bool {
        guard let s = stat(pid) else { return false }
        return s.startTime == startTime && !s.isZombie
    }

    /// Whether any process is in process group `pgid`.
    public static func groupExists(_ pgid: pid_t) -> Bool {
        kill(-pgid, 0) == 0 || errno == EPERM
    }

    /// Reads a small file in one go (no Foundation overhead); nil on error.
    public static func readSmallFile(_ path: String, limit: Int = 8192) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: buffer[..<total], as: UTF8.self)
    }
}
