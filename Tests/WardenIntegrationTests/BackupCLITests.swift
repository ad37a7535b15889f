import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// `warden backup` of a running Warden's store and `warden restore` once it is stopped.
@Suite("Backups with the CLI", .timeLimit(.minutes(2)))
struct BackupCLITests {
    init() { becomeSubreaper() }

    @Test func scheduledBackupsAreTakenAndOnlyTheNewestKept() async throws {
        let f = Fixture("services: {}\n")
        let key = f.dir.write("backup.key", "0123456789abcdef0123456789abcdef")
        let backups = f.dir.file("scheduled")
        f.write("backup: { dir: \"\(backups)\", every: 1s, keep: 2, key: \"file:\(key)\" }\nservices: {}\n")
        let w = try f.start()
        let created = try await f.waitFor("backup.created", "backup", count: 3)
        #expect(created.allSatisfy { $0.payload["encrypted"]?.boolValue == true })
        #expect(created.last?.payload["deleted"]?.arrayValue?.isEmpty == false, "the oldest went")
        #expect(try await w.stop() == .exited(0))
        let files = try FileManager.default.contentsOfDirectory(atPath: backups).filter { $0.hasSuffix(".wbk") }
            .sorted()
        #expect(files.count == 2)
        let restored = try await warden("restore", "-c", f.config, backups + "/" + files.last!, "--key", "file:\(key)")
        #expect(restored.exitCode == 0, "\(restored.stderr)")
        // Located spec errors: backups inside the state directory, a key too short.
        let inside = try await warden(
            "validate",
            f.dir.write("bad.yaml", "state_dir: \(f.stateDir)\nbackup: { dir: \(f.stateDir)/b }\nservices: {}\n")
        )
        #expect(
            inside.stdout.contains("backup.dir: backups inside the state directory"),
            "\(inside.stdout)\(inside.stderr)"
        )
        let short = f.dir.write("short.key", "tiny")
        let weak = try await warden(
            "validate",
            f.dir.write("weak.yaml", "backup: { dir: /tmp/x, key: 'file:\(short)' }\nservices: {}\n")
        )
        #expect(
            (weak.stdout + weak.stderr).contains("backup.key: the key must be at least 16 bytes"),
            "\(weak.stdout)\(weak.stderr)"
        )
    }

    @Test func aRunningWardensStoreIsBackedUpAndRestoredWithItsKey() async throws {
        let f = Fixture(
            """
            services:
              app:
                run: [SAMPLE]
            """
        )
        let key = f.dir.write("backup.key", "0123456789abcdef0123456789abcdef")
        let wrong = f.dir.write("wrong.key", "fedcba9876543210fedcba9876543210")
        let backups = f.dir.file("backups")
        let w = try f.start()
        _ = try await f.waitRunning(["app"])
        let backup = try await warden("backup", "-c", f.config, "--to", backups, "--key", "file:\(key)", "--keep", "3")
        #expect(backup.exitCode == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("encrypted"), "\(backup.stdout)")
        let file = try #require(
            try FileManager.default.contentsOfDirectory(atPath: backups).first { $0.hasSuffix(".wbk") }
        )
        let running = try await warden("restore", "-c", f.config, backups + "/" + file, "--key", "file:\(key)")
        #expect(running.exitCode == 1)
        #expect(running.stderr.contains("stop it first"), "\(running.stderr)")
        #expect(try await w.stop() == .exited(0))

        let before = try await f.events()
        #expect(before.contains { $0.type == EventType.wardenStopped })
        let refused = try await warden("restore", "-c", f.config, backups + "/" + file, "--key", "file:\(wrong)")
        #expect(refused.exitCode == 1)
        #expect(refused.stderr.contains("not the key of this backup"), "\(refused.stderr)")
        #expect(try await f.events().count == before.count, "nothing was changed")

        let restored = try await warden("restore", "-c", f.config, backups + "/" + file, "--key", "file:\(key)")
        #expect(restored.exitCode == 0, "\(restored.stderr)")
        let after = try await f.events()
        // The store is as it was when the backup was taken: Warden running, not yet stopping.
        #expect(!after.contains { $0.type == EventType.wardenStopped })
        #expect(after.contains { $0.type == EventType.serviceStarted && $0.subject == "app" })
        #expect(FileManager.default.fileExists(atPath: f.stateDir + "/warden.db.before-restore"))
    }
}
