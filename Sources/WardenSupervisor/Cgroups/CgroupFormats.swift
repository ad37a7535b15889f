import Foundation

/// Parsers for the files the kernel keeps in cgroup directories and for the process's own view of
/// its cgroups. Pure: they take the text and never fail (what does not parse is left out).
public enum CgroupFormats {
    /// `key value` lines (`memory.stat`, `memory.events`, `cpu.stat`, `memory.oom_control`,
    /// `pids.events`), values as unsigned integers.
    public static func keyed(_ text: String) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            values[String(parts[0])] = value
        }
        return values
    }

    /// Like ``keyed(_:)``, keeping only `keys`: a scan of the bytes that builds no string for the
    /// lines it skips (v1's `memory.stat` has some seventy lines, read for every service on
    /// every stats pass).
    public static func keyed(_ text: String, only keys: Set<String>) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        var copy = text
        copy.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                if let (key, value) = keyedLine(UnsafeBufferPointer(rebasing: bytes[start..<end]), keys) {
                    values[key] = value
                }
                start = end + 1
            }
        }
        return values
    }

    /// The value of `key` in `key value` lines, or nil.
    public static func value(of key: String, in text: String) -> UInt64? {
        keyed(text, only: [key])[key]
    }

    /// One `key value` line when its key is in `keys`.
    private static func keyedLine(_ line: UnsafeBufferPointer<UInt8>, _ keys: Set<String>) -> (String, UInt64)? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")), space > 0 else { return nil }
        var i = space
        while i < line.count && line[i] == UInt8(ascii: " ") { i += 1 }
        guard i < line.count else { return nil }
        var value: UInt64 = 0
        var end = line.count
        while end > i && line[end - 1] == UInt8(ascii: " ") { end -= 1 }
        for j in i..<end {
            let c = line[j]
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = a
        }
        let key = String(decoding: UnsafeBufferPointer(rebasing: line[0..<space]), as: UTF8.self)
        guard keys.contains(key) else { return nil }
        return (key, value)
    }

    /// One unsigned integer (`memory.current`, `pids.current`, `cpuacct.usage`); nil for `max`.
    public static func number(_ text: String) -> UInt64? {
        var trimmed = Substring(text)
        while let c = trimmed.utf8.first, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
            trimmed = trimmed.dropFirst()
        }
        while let c = trimmed.utf8.last, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
            trimmed = trimmed.dropLast()
        }
        return UInt64(trimmed)
    }

    /// Bytes read and written, summed over devices: v2's `io.stat` lines
    /// (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`).
    public static func ioStat(_ text: String) -> (read: UInt64, written: UInt64) {
        var read: UInt64 = 0
        var written: UInt64 = 0
        for line in text.split(separator: "\n") {
            for field in line.split(separator: " ") {
                let pair = field.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, let value = UInt64(pair[1]) else { continue }
                if pair[0] == "rbytes" { read &+= value }
                if pair[0] == "wbytes" { written &+= value }
            }
        }
        return (read, written)
    }

    /// Bytes read and written, summed over devices: v1's `blkio.throttle.io_service_bytes`
    /// (`8:0 Read 4096` … `Total 8192`).
    public static func blkioServiceBytes(_ text: String) -> (read: UInt64, written: UInt64) {
        var read: UInt64 = 0
        var written: UInt64 = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let value = UInt64(parts[2]) else { continue }
            if parts[1] == "Read" { read &+= value }
            if parts[1] == "Write" { written &+= value }
        }
        return (read, written)
    }

    /// Pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`): the `some`
    /// line's 10-second average (percent of wall time some task stalled) and its total (µs).
    public static func pressure(_ text: String) -> (avg10: Double, totalMicros: UInt64)? {
        for line in text.split(separator: "\n") where line.hasPrefix("some ") {
            var avg10: Double?
            var total: UInt64?
            for field in line.split(separator: " ").dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                if pair[0] == "avg10" { avg10 = Double(pair[1]) }
                if pair[0] == "total" { total = UInt64(pair[1]) }
            }
            if let avg10, let total { return (avg10, total) }
        }
        return nil
    }

    /// Pids listed one per line (`cgroup.procs`).
    public static func pids(_ text: String) -> [Int32] {
        text.split(separator: "\n").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
    }

    /// Controller names (`cgroup.controllers`, `cgroup.subtree_control`).
    public static func controllers(_ text: String) -> Set<String> {
        Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// A cgroup file system mounted on this host, from `/proc/self/mountinfo`.
    public struct Mount: Sendable, Hashable {
        /// Where it is mounted.
        public var path: String
        /// The directory of the hierarchy that `path` shows (`/` unless a namespace or bind mount
        /// shows a subtree).
        public var root: String
        /// True for cgroup2.
        public var unified: Bool
        /// v1: the controllers of the hierarchy (`memory`, `cpu`, `cpuacct`, `name=systemd`, …).
        public var controllers: Set<String>
    }

    /// The cgroup mounts in `/proc/self/mountinfo` (`36 25 0:31 / /sys/fs/cgroup/memory rw,… - cgroup
    /// cgroup rw,memory`). Mount points with spaces come escaped (`\040`) and are unescaped.
    public static func mounts(_ mountinfo: String) -> [Mount] {
        var result: [Mount] = []
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count >= 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let type = right[0]
            guard type == "cgroup" || type == "cgroup2" else { continue }
            var controllers: Set<String> = []
            if type == "cgroup" {
                let known = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "cpuset", "devices"]
                for option in right[2].split(separator: ",") {
                    let o = String(option)
                    if known.contains(o) || o.hasPrefix("name=") { controllers.insert(o) }
                }
            }
            result.append(
                Mount(
                    path: unescape(String(left[4])),
                    root: unescape(String(left[3])),
                    unified: type == "cgroup2",
                    controllers: controllers
                )
            )
        }
        return result
    }

    /// The process's cgroups from `/proc/self/cgroup` (`4:memory:/a/b`, `0::/c`): for each
    /// controller (`""` for the unified hierarchy) its path inside the hierarchy.
    public static func membership(_ text: String) -> [String: String] {
        var paths: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[1].isEmpty {
                paths[""] = path
            } else {
                for controller in parts[1].split(separator: ",") { paths[String(controller)] = path }
            }
        }
        return paths
    }

    private static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var chars = Array(s)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\", i + 3 < chars.count, let code = UInt8(String(chars[(i + 1)...(i + 3)]), radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                i += 4
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        chars.removeAll()
        return out
    }
}
