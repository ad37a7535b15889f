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
    public static func stat(_ pid: pid_t) -> ProcStat? {
        guard let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// Parses the text of a /proc/PID/stat file.
    public static func parseStat(_ text: String) -> ProcStat? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        guard let pid = pid_t(text[..<open].trimmingCharacters(in: .whitespaces)) else { return nil }
        let command = String(text[text.index(after: open)..<close])
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state) of proc(5).
        guard fields.count >= 22, let state = fields[0].first else { return nil }
        func num<T: FixedWidthInteger>(_ i: Int) -> T { T(fields[i - 3]) ?? 0 }
        return ProcStat(
            pid: pid,
            command: command,
            state: state,
            ppid: num(4),
            pgrp: num(5),
            session: num(6),
            utime: num(14),
            stime: num(15),
            startTime: num(22),
            rssPages: num(24)
        )
    }

    /// Every pid in /proc.
    public static func allPids() -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var pids: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if let pid = pid_t(name) { pids.append(pid) }
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
