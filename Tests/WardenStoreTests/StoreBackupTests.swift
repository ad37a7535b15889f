import Crypto
import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

/// Backups of a real SQLite store: taken while it is written, restored in full, and refused —
/// without touching the store — when damaged, cut short, reordered or opened with the wrong key.
@Suite("Store backups")
struct StoreBackupTests {
    let key = Secret("correct horse battery staple, long enough")

    /// A store with `events` events and samples of 20 series.
    func makeStore(_ dir: TempDir, events: Int = 500) async throws -> String {
        let path = dir.file("warden.db")
        let store = try SQLiteStore(path: path)
        let bus = EventBus()
        for i in 0..<events {
            try await store.append([bus.publish("custom.test", source: "test", subject: "s\(i % 7)")])
        }
        var batch = SampleBatch()
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        for i in 0..<5000 {
            batch.append(
                SeriesKey(name: "cpu", labels: [.init("n", "\(i % 20)")]),
                time: now - Int64(i) * 1000,
                value: Double(i)
            )
        }
        try await store.appendSamples(batch)
        try await store.close()
        return path
    }

    static func sha(_ path: String) -> String {
        SHA256.hash(data: FileManager.default.contents(atPath: path) ?? Data()).map { String(format: "%02x", $0) }
            .joined()
    }

    @Test func anEncryptedBackupTakenWhileTheStoreIsWrittenRestoresInFull() async throws {
        let dir = TempDir("warden-backup")
        let path = try await makeStore(dir)
        // Written to while the backup is taken (ids after the first 500, as a restarted Warden's).
        let store = try SQLiteStore(path: path)
        let bus = EventBus(firstID: 1000)
        let writer = Task {
            for i in 0..<300 { try await store.append([bus.publish("custom.late", source: "test", subject: "w\(i)")]) }
        }
        let manifest = try StoreBackup.create(database: path, directory: dir.file("backups"), key: key)
        try await writer.value
        try await store.close()
        #expect(manifest.encrypted)
        #expect(manifest.events >= 500 && manifest.events <= 800)
        #expect(manifest.samples == 5000)
        let file = dir.file("backups/" + manifest.file)
        // Encrypted: the snapshot's text is not in the file.
        let raw = try #require(FileManager.default.contents(atPath: file))
        #expect(raw.range(of: Data("custom.test".utf8)) == nil)
        #expect(raw.range(of: Data("SQLite format 3".utf8)) == nil)

        let target = dir.file("restored/warden.db")
        try FileManager.default.createDirectory(atPath: dir.file("restored"), withIntermediateDirectories: true)
        let restored = try StoreBackup.restore(file: file, database: target, key: key)
        #expect(restored == manifest)
        let reopened = try SQLiteStore(path: target, readOnly: true)
        let events = try await reopened.events(matching: EventQuery(limit: 100_000))
        #expect(Int64(events.count) == manifest.events)
        #expect(events.filter { $0.type == "custom.test" }.count == 500)
        try await reopened.close()
    }

    @Test func damageOfAnyKindIsRefusedAndTheStoreIsUntouched() async throws {
        let dir = TempDir("warden-backup")
        let path = try await makeStore(dir)
        let backups = dir.file("backups")
        let manifest = try StoreBackup.create(database: path, directory: backups, key: key)
        let file = backups + "/" + manifest.file
        let original = try #require(FileManager.default.contents(atPath: file))
        let target = dir.file("live.db")
        FileManager.default.createFile(atPath: target, contents: Data("the store in use".utf8))
        let before = Self.sha(target)

        let manifestPath = backups + "/" + (manifest.file as NSString).deletingPathExtension + ".json"
        let manifestText = String(decoding: FileManager.default.contents(atPath: manifestPath)!, as: UTF8.self)
        func refused(_ data: Data, fixManifest: Bool = false, key: Secret?, _ expected: String) {
            FileManager.default.createFile(atPath: file, contents: data)
            // Whoever damaged the file may also have made the manifest agree with it: then the
            // chunks must catch it.
            let text =
                fixManifest
                ? manifestText.replacingOccurrences(of: manifest.fileSHA256, with: Self.sha(file)) : manifestText
            FileManager.default.createFile(atPath: manifestPath, contents: Data(text.utf8))
            do {
                _ = try StoreBackup.restore(file: file, database: target, key: key)
                Issue.record("restored a damaged backup (\(expected))")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
            #expect(Self.sha(target) == before, "nothing was changed")
            #expect(!FileManager.default.fileExists(atPath: target + ".before-restore"))
        }
        var flipped = original
        flipped[flipped.count / 2] ^= 0x40
        refused(flipped, key: key, "does not match its manifest's checksum")
        refused(original.prefix(original.count - 100), key: key, "does not match its manifest's checksum")
        refused(original, key: Secret("another key of enough length"), "not the key of this backup")
        refused(original, key: nil, "give its key")
        refused(flipped, fixManifest: true, key: key, "damaged")
        refused(original.prefix(original.count * 2 / 3), fixManifest: true, key: key, "cut short")
        // Restored with the manifest made to agree again: still fine.
        FileManager.default.createFile(atPath: file, contents: original)
    }

    @Test func chunksMovedOrDroppedAreRefused() throws {
        let dir = TempDir("warden-backup")
        let plain = dir.write("plain", String(repeating: "0123456789abcdef", count: 1024))  // 16 KiB
        let sealed = dir.file("sealed")
        let key = Array("a key of enough length for HKDF".utf8)
        _ = try BackupContainer.write(source: plain, destination: sealed, key: key, chunkSize: 4096)
        let bytes = [UInt8](FileManager.default.contents(atPath: sealed)!)
        // Header: magic 8, flags 1, chunk size 4, salt 32; then (length, body) per chunk.
        var chunks: [[UInt8]] = []
        var i = 45
        while true {
            let length = bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) }
            if length == 0 { break }
            chunks.append(Array(bytes[i..<(i + 4 + length)]))
            i += 4 + length
        }
        #expect(chunks.count == 4)
        let head = Array(bytes[0..<45])
        let tail = Array(bytes[i...])
        func reads(_ body: [[UInt8]]) -> String? {
            let path = dir.file("damaged")
            FileManager.default.createFile(atPath: path, contents: Data(head + body.flatMap { $0 } + tail))
            do {
                _ = try BackupContainer.read(source: path, destination: dir.file("out"), key: key)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(reads(chunks) == nil, "the intact container reads")
        #expect(reads([chunks[1], chunks[0], chunks[2], chunks[3]])?.contains("the key does not open") == true)
        #expect(reads([chunks[0], chunks[2], chunks[1], chunks[3]])?.contains("out of place") == true)
        #expect(reads(Array(chunks.prefix(3))) != nil, "the last chunk dropped (and the length kept)")
        #expect(reads(chunks + [chunks[3]]) != nil, "a chunk repeated")
        #expect(try BackupContainer.read(source: sealed, destination: dir.file("out"), key: key).size == 16384)
        #expect(FileManager.default.contents(atPath: dir.file("out")) == FileManager.default.contents(atPath: plain))
    }

    /// A container sealed by another implementation of the format (Python's `cryptography`, the
    /// fuzz corpus's seeds) opens here: the format is what the documentation says, not only what
    /// this code writes.
    @Test func aContainerMadeByAnotherImplementationOpens() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus/backup")
        let dir = TempDir("warden-backup")
        let read = try BackupContainer.read(
            source: corpus.appendingPathComponent("encrypted").path,
            destination: dir.file("out"),
            key: Array("fuzzing key of enough length".utf8)
        )
        #expect(read.size == 216)
        let out = try #require(FileManager.default.contents(atPath: dir.file("out")))
        #expect(out.prefix(16) == Data("SQLite format 3\u{0}".utf8))
        #expect(Array(out.suffix(200)) == Array(0..<200).map(UInt8.init))
        #expect(throws: BackupContainer.Failure.self) {
            try BackupContainer.read(
                source: corpus.appendingPathComponent("truncated").path,
                destination: dir.file("out2"),
                key: Array("fuzzing key of enough length".utf8)
            )
        }
    }

    @Test func unencryptedBackupsRoundTripAndOnlyTheNewestAreKept() async throws {
        let dir = TempDir("warden-backup")
        let path = try await makeStore(dir, events: 50)
        var files: [String] = []
        for i in 0..<4 {
            let m = try StoreBackup.create(
                database: path,
                directory: dir.file("b"),
                key: nil,
                now: Date(timeIntervalSince1970: 1_800_000_000 + Double(i))
            )
            #expect(!m.encrypted && m.keyID == nil)
            files.append(m.file)
        }
        let deleted = try StoreBackup.prune(directory: dir.file("b"), keep: 2)
        #expect(deleted.count == 4)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.file("b")).sorted()
        #expect(left.filter { $0.hasSuffix(".wbk") } == Array(files.suffix(2)))
        let target = dir.file("r.db")
        // A key given means an authenticated backup is expected: a plain one is refused.
        #expect(throws: StoreBackup.Failure.self) {
            try StoreBackup.restore(file: dir.file("b/" + files.last!), database: target, key: key)
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        _ = try StoreBackup.restore(file: dir.file("b/" + files.last!), database: target, key: nil)
        let store = try SQLiteStore(path: target, readOnly: true)
        #expect(try await store.events(matching: EventQuery(limit: 1000)).count == 50)
        try await store.close()
    }
}
