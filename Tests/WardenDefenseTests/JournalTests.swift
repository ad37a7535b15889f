import Foundation
import Logging
import Testing
import WardenCore
import WardenDefense
import WardenStore
import WardenSupervisor
import WardenTestSupport

/// The journal through the real `journalctl`, over real journal files written by
/// `systemd-journal-remote` (the test machine runs no journald).
@Suite("Journal", .serialized, .timeLimit(.minutes(1)))
struct JournalTests {
    init() { becomeSubreaper() }

    let journalRemote = "/lib/systemd/systemd-journal-remote"

    /// Appends entries (`IDENTIFIER`, `MESSAGE`) to the journal file in `dir`; the program that
    /// wrote them (`_COMM`, set by journald from the kernel) is the identifier too, unless `comm`
    /// says otherwise (a program passing itself off as another, as `logger -t` does).
    func write(_ dir: String, _ entries: [(String, String)], comm: String? = nil) async throws {
        var export = ""
        for (ident, message) in entries {
            let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
            export += "__REALTIME_TIMESTAMP=\(now)\n__MONOTONIC_TIMESTAMP=\(now)\n"
            export += "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=node\n"
            export += "SYSLOG_IDENTIFIER=\(ident)\n_COMM=\(comm ?? ident)\n_PID=4242\nMESSAGE=\(message)\n\n"
        }
        let r = await ChildProcess.capture([journalRemote, "-o", dir + "/remote.journal", "-"], input: export)
        #expect(r.status == 0, "\(r.output)")
    }

    func failures(_ address: String, _ n: Int) -> [(String, String)] {
        (0..<n).map { ("sshd", "Failed password for root from \(address) port \(50000 + $0) ssh2") }
    }

    final class Run: Sendable {
        let bus = EventBus()
        let log: EventLog
        let bans: BanManager
        let task: Task<Void, Never>

        init(state: TempDir, journal: String) throws {
            var spec = DefenseSpec()
            spec.watches = [.journal(unit: nil, parser: "sshd", directory: journal)]
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            log = EventLog(bus.subscribe(name: "test"))
            bans = BanManager(
                spec: spec,
                firewall: DryRunFirewall(),
                store: try SQLiteStore(path: state.file("warden.db")),
                safety: BanSafety(allow: []),
                bus: bus,
                logger: logger
            )
            let service = DefenseService(
                .init(
                    spec: spec,
                    bans: bans,
                    bus: bus,
                    logger: logger,
                    directory: state.file("defense"),
                    spawn: ChildProcess.streaming
                )
            )
            task = Task { try? await service.run() }
        }

        func stop() async {
            task.cancel()
            _ = await task.value
        }
    }

    @Test func journalEntriesAreScoredAndTheCursorSurvivesARestart() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: journalRemote), "apt-get install systemd-journal-remote")
        let journal = TempDir("warden-journal")
        let state = TempDir("warden-journal-state")
        try await write(journal.path, [("systemd", "Started session 1.")])
        let first = try Run(state: state, journal: journal.path)
        try await first.log.wait(for: "defense.started")
        try await write(journal.path, failures("203.0.113.21", 5))
        let applied = try await first.log.wait(for: "ban.applied", "203.0.113.21")
        let lines = applied[0].payload["evidence"]?["lines"]?.arrayValue ?? []
        // Stamped with the time journald received it (__REALTIME_TIMESTAMP), as rsyslog would.
        let line = lines.first?.stringValue ?? ""
        #expect(
            line.hasSuffix(" node sshd[4242]: Failed password for root from 203.0.113.21 port 50000 ssh2"),
            "\(line)"
        )
        let stamp = String(line.prefix { $0 != " " })
        let stated = stamp.utf8.withContiguousStorageIfAvailable { LogTime.stamp($0, reference: Date()) } ?? nil
        #expect(abs((stated ?? .distantPast).timeIntervalSinceNow) < 120, "\(stamp)")
        await first.stop()

        // Written while Warden is down: read after the saved cursor, once.
        try await write(journal.path, failures("198.51.100.22", 4))
        let second = try Run(state: state, journal: journal.path)
        try await second.log.wait(for: "defense.started")
        try await write(journal.path, failures("198.51.100.22", 1))
        try await second.log.wait(for: "ban.applied", "198.51.100.22")
        // The journal is read in order: had the old entries been read again, their threat would
        // have been detected before this one. (Their ban is restored, so ban.applied would not show it.)
        #expect(second.log.events("threat.detected", "203.0.113.21").isEmpty, "old entries are not read again")
        await second.stop()
    }

    /// `logger -t sshd "Failed password … from V …"` sets only SYSLOG_IDENTIFIER: the program is
    /// still logger, and its lines frame nobody.
    @Test func entriesThatOnlyClaimToBeSSHDAreNotCounted() async throws {
        let journal = TempDir("warden-journal")
        let state = TempDir("warden-journal-state")
        try await write(journal.path, [("systemd", "Started session 1.")])
        let run = try Run(state: state, journal: journal.path)
        try await run.log.wait(for: "defense.started")
        try await write(journal.path, failures("192.0.2.66", 10), comm: "logger")
        try await write(journal.path, failures("203.0.113.23", 5))
        try await run.log.wait(for: "ban.applied", "203.0.113.23")
        #expect(run.log.events("threat.detected", "192.0.2.66").isEmpty)
        #expect(run.log.events("ban.applied", "192.0.2.66").isEmpty)
        await run.stop()
    }
}
