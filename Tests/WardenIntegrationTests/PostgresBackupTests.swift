import Crypto
import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

/// `warden backup --postgres` of a live cluster and `warden restore --postgres-data` into a new
/// data directory that a server then starts on.
@Suite("PostgreSQL backups with the CLI", .timeLimit(.minutes(3)))
struct PostgresBackupTests {
    init() { becomeSubreaper() }

    @Test func aLiveClusterIsBackedUpAndRestoresIntoAServerThatStarts() async throws {
        let primary = try await PostgresServer()
        try await primary.createDatabase("fleet")
        try await primary.psql("CREATE TABLE events (id bigint PRIMARY KEY, type text)", database: "fleet")
        try await primary.psql(
            "INSERT INTO events SELECT g, 'service.started' FROM generate_series(1, 5000) g",
            database: "fleet"
        )
        let dir = TempDir("warden-pgbackup")
        let key = dir.write("backup.key", "0123456789abcdef0123456789abcdef")
        let wrong = dir.write("wrong.key", "fedcba9876543210fedcba9876543210")
        let backups = dir.file("backups")
        let url = "postgres://\(primary.user)@127.0.0.1:\(primary.port)/fleet"
        // Written while the backup runs: what was committed before it started must be in it.
        let backup = try await warden("backup", "--postgres", url, "--to", backups, "--key", "file:\(key)")
        #expect(backup.exitCode == 0, "\(backup.stderr)")
        try await primary.psql("INSERT INTO events VALUES (5001, 'after the backup')", database: "fleet")
        let file = try #require(
            try FileManager.default.contentsOfDirectory(atPath: backups).first { $0.hasSuffix(".wbk") }
        )
        let path = backups + "/" + file

        // A wrong key, a flipped byte (with the manifest made to agree) and a cut file: refused,
        // and the target directory is never made.
        let target = dir.file("restored")
        let wrongKey = try await warden("restore", path, "--postgres-data", target, "--key", "file:\(wrong)")
        #expect(wrongKey.exitCode == 1)
        #expect(wrongKey.stderr.contains("not the key of this backup"), "\(wrongKey.stderr)")
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let manifestPath = (path as NSString).deletingPathExtension + ".json"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        for damage in ["flip", "cut"] {
            var bytes = [UInt8](original)
            if damage == "flip" { bytes[bytes.count / 2] ^= 0x01 } else { bytes.removeLast(bytes.count / 3) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let sha = try #require(JSONValue.parse(manifest)?["fileSHA256"]?.stringValue)
            let agreed = manifest.replacingOccurrences(
                of: sha,
                with: SHA256.hash(data: Data(bytes)).map { String(format: "%02x", $0) }.joined()
            )
            try agreed.write(toFile: manifestPath, atomically: true, encoding: .utf8)
            let refused = try await warden("restore", path, "--postgres-data", target, "--key", "file:\(key)")
            #expect(refused.exitCode == 1, "\(damage)")
            #expect(refused.stderr.contains("nothing was changed"), "\(damage): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: target), "\(damage): nothing half-restored")
        }
        try original.write(to: URL(fileURLWithPath: path))
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)

        // A copy changed inside, in a backup without a key (nothing authenticates it) whose
        // manifest is made to agree: PostgreSQL's own manifest of checksums catches it.
        let plainDir = dir.file("plain")
        let plain = try await warden("backup", "--postgres", url, "--to", plainDir)
        #expect(plain.exitCode == 0, "\(plain.stderr)")
        let plainFile = try #require(
            try FileManager.default.contentsOfDirectory(atPath: plainDir).first { $0.hasSuffix(".wbk") }
        )
        let tar = dir.file("inside.tar")
        _ = try BackupContainer.read(source: plainDir + "/" + plainFile, destination: tar, key: nil)
        var inside = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tar)))
        let name = Array("./global/pg_control".utf8)
        let header = try #require(
            stride(from: 0, to: inside.count - 512, by: 512).first { Array(inside[$0..<$0 + name.count]) == name }
        )
        inside[header + 512 + 100] ^= 0xFF
        try Data(inside).write(to: URL(fileURLWithPath: tar))
        let tampered = plainDir + "/" + plainFile
        let (sha, size) = try BackupContainer.write(source: tar, destination: tampered, key: nil)
        let plainManifestPath = (tampered as NSString).deletingPathExtension + ".json"
        var plainManifest = try #require(
            JSONValue.parse(try String(contentsOfFile: plainManifestPath, encoding: .utf8))?.objectValue
        )
        plainManifest["snapshotSHA256"] = .string(sha)
        plainManifest["snapshotBytes"] = .int(size)
        plainManifest["fileSHA256"] = .string(
            SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: tampered))).map { String(format: "%02x", $0) }
                .joined()
        )
        try JSONValue.object(plainManifest).jsonText.write(toFile: plainManifestPath, atomically: true, encoding: .utf8)
        let caught = try await warden("restore", tampered, "--postgres-data", target)
        #expect(caught.exitCode == 1)
        #expect(caught.stderr.contains("pg_verifybackup refuses the copy"), "\(caught.stderr)")
        #expect(caught.stderr.contains("pg_control"), "\(caught.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target))

        let restored = try await warden("restore", path, "--postgres-data", target, "--key", "file:\(key)")
        #expect(restored.exitCode == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("verified by pg_verifybackup"), "\(restored.stdout)")
        let again = try await warden("restore", path, "--postgres-data", target, "--key", "file:\(key)")
        #expect(again.stderr.contains("exists and is not empty"), "a restore never writes over a cluster")
        let server = try await PostgresServer(restored: target)
        let count = try await server.psql("SELECT count(*) FROM events", database: "fleet")
        #expect(count == "5000", "every row committed before the backup, none after: \(count)")
        await server.stop()
        await primary.stop()
    }
}
