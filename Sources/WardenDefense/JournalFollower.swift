import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Starts a long-running command and returns the read end of its stdout, and how to stop it.
/// Injected, so that the command goes through the caller's process machinery.
public typealias StreamSpawner = @Sendable (_ argv: [String]) -> (fd: Int32, stop: @Sendable () -> Void)?

/// Follows the systemd journal through `journalctl -f -o json`, on its own thread: each entry
/// becomes the line `HOST PROGRAM[PID]: MESSAGE` for the parser, as a syslog file would have it.
///
/// Resumes after the last entry it saw (its cursor is reported after each batch), starts at the
/// end otherwise, and starts `journalctl` again if it exits.
public final class JournalFollower: Sendable {
    public let unit: String?
    public let directory: String?
    let journalctl: String
    let saved: String?
    let spawn: StreamSpawner
    let onLine: @Sendable (UnsafeBufferPointer<UInt8>) -> Void
    let onCursor: @Sendable (String) -> Void
    let state = Mutex<(running: Bool, stop: (@Sendable () -> Void)?)>((true, nil))
    let finished = Mutex(false)
    /// Without a saved cursor, entries from this time on are read (not only those after
    /// `journalctl` got going).
    let since: Int

    /// The key its cursor is kept under.
    public var key: String { Self.key(unit: unit, directory: directory) }

    /// The key the cursor of a follower of `unit` in `directory` is kept under.
    public static func key(unit: String?, directory: String?) -> String {
        "journal:\(unit ?? "*")\(directory.map { "@\($0)" } ?? "")"
    }

    public init?(
        unit: String?,
        directory: String?,
        saved: String?,
        since: Date,
        spawn: @escaping StreamSpawner,
        onLine: @escaping @Sendable (UnsafeBufferPointer<UInt8>) -> Void,
        onCursor: @escaping @Sendable (String) -> Void
    ) {
        guard let journalctl = SystemTool.path("journalctl") else {
            return nil
        }
        self.journalctl = journalctl
        self.unit = unit
        self.directory = directory
        self.saved = saved
        self.since = Int(since.timeIntervalSince1970)
        self.spawn = spawn
        self.onLine = onLine
        self.onCursor = onCursor
    }

    public func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.withLock { $0 = true }
        }
        thread.name = "warden-journal"
        thread.start()
    }

    public func stop() {
        let stop = state.withLock { s -> (@Sendable () -> Void)? in
            s.running = false
            return s.stop
        }
        stop?()
        while !finished.withLock({ $0 }) { usleep(1000) }
    }

    func arguments(after cursor: String?) -> [String] {
        var argv = [journalctl, "--follow", "--output=json", "--no-pager"]
        if let directory { argv.append("--directory=\(directory)") }
        if let unit { argv.append("--unit=\(unit)") }
        if let cursor { argv.append("--after-cursor=\(cursor)") } else { argv.append("--since=@\(since)") }
        return argv
    }

    func loop() {
        var cursor = saved
        while state.withLock({ $0.running }) {
            guard let (fd, stop) = spawn(arguments(after: cursor)) else {
                sleep(1)
                continue
            }
            let keepGoing = state.withLock { s -> Bool in
                s.stop = stop
                return s.running
            }
            if !keepGoing {
                stop()
                close(fd)
                break
            }
            read(fd) { cursor = $0 }
            close(fd)
            if state.withLock({ $0.running }) { usleep(500_000) }  // journalctl ended: start it again
        }
    }

    /// The largest journal entry read (its JSON line); journald keeps messages far smaller.
    static let maxEntry = 1 << 20

    /// Reads JSON entries until the pipe closes.
    func read(_ fd: Int32, cursor: (String) -> Void) {
        var carry: [UInt8] = []
        var skipping = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            carry.append(contentsOf: buffer[0..<n])
            if carry.count > Self.maxEntry, !carry.contains(10) {
                // An entry larger than any message: skipped up to its end, not buffered whole.
                carry.removeAll(keepingCapacity: true)
                skipping = true
                continue
            }
            if skipping, let nl = carry.firstIndex(of: 10) {
                carry.removeSubrange(...nl)
                skipping = false
            }
            var last: String?
            while let nl = carry.firstIndex(of: 10) {
                let entry = carry[..<nl]
                if let json = JSONValue.parse(String(decoding: entry, as: UTF8.self)) {
                    if let text = Self.line(json) {
                        var copy = text
                        copy.withUTF8 { onLine($0) }
                    }
                    if let c = json["__CURSOR"]?.stringValue { last = c }
                }
                carry.removeSubrange(...nl)
            }
            if let last {
                cursor(last)
                onCursor(last)
            }
        }
    }

    /// `TIME host PROGRAM[PID]: MESSAGE`, as rsyslog writes it (TIME from `__REALTIME_TIMESTAMP`,
    /// left out when the entry has none); nil for an entry without a text message.
    ///
    /// The program is the journal's `_COMM` and the pid its `_PID`: journald takes both from the
    /// kernel, so a process cannot pass itself off as sshd (`logger -t sshd` sets only
    /// `SYSLOG_IDENTIFIER`, which is used only when `_COMM` is missing).
    static func line(_ entry: JSONValue) -> String? {
        guard let message = entry["MESSAGE"]?.stringValue else { return nil }
        let ident = entry["_COMM"]?.stringValue ?? entry["SYSLOG_IDENTIFIER"]?.stringValue ?? "journal"
        let pid = entry["_PID"]?.stringValue ?? entry["SYSLOG_PID"]?.stringValue
        let host = entry["_HOSTNAME"]?.stringValue ?? "localhost"
        // The time journald received it (microseconds since the epoch), as rsyslog's RFC 3339 stamp.
        var stamp = ""
        if let text = entry["__REALTIME_TIMESTAMP"]?.stringValue, let micros = Int64(text), micros > 0,
            micros < 253_402_300_800_000_000
        {
            stamp = ISOTime.format(Date(timeIntervalSince1970: Double(micros) / 1e6)) + " "
        }
        return "\(stamp)\(host) \(ident)\(pid.map { "[\($0)]" } ?? ""): \(message)"
    }
}
