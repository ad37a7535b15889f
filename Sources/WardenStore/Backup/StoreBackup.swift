import Crypto
import Foundation
internal import GRDB
import WardenCore

/// Backups of the SQLite store: an online, consistent snapshot (SQLite's backup API, while Warden
/// runs and writes), optionally encrypted (``BackupContainer``), with a manifest beside it
/// (`NAME.wbk` and `NAME.json`); restores that check everything before they replace anything.
public enum StoreBackup {
    /// What is kept beside each backup file.
    public struct Manifest: Codable, Sendable, Equatable {
        public var version = 1
        public var createdAt: Date
        /// The backup file's name (in the manifest's directory).
        public var file: String
        /// SHA-256 of the backup file, and of the snapshot it holds.
        public var fileSHA256: String
        public var snapshotSHA256: String
        public var snapshotBytes: Int64
        public var encrypted: Bool
        /// The first 16 hex digits of SHA-256 of the key, to tell keys apart (not the key).
        public var keyID: String?
        public var events: Int64
        public var samples: Int64

        enum CodingKeys: String, CodingKey {
            case version, file, encrypted, events, samples
            case createdAt = "created_at"
            case fileSHA256 = "file_sha256"
            case snapshotSHA256 = "snapshot_sha256"
            case snapshotBytes = "snapshot_bytes"
            case keyID = "key_id"
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
        public init(_ message: String) { self.message = message }
    }

    /// Takes a backup of the database at `database` into `directory`; returns its manifest.
    /// Consistent while another process writes (a read transaction's view, copied page by page).
    public static func create(database: String, directory: String, key: Secret?, now: Date = Date()) throws -> Manifest
    {
        guard FileManager.default.fileExists(atPath: database) else { throw Failure("no database at \(database)") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "warden-" + stamp(now)
        let snapshot = directory + "/." + name + ".snapshot"
        let partial = directory + "/." + name + ".wbk.partial"
        defer {
            for path in [snapshot, snapshot + "-wal", snapshot + "-shm", partial] {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(30)
        let source = try DatabasePool(path: database, configuration: config)
        let copy = try DatabaseQueue(path: snapshot)
        try source.backup(to: copy, pagesPerStep: 1024)
        let (events, samples) = try copy.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM samples") ?? 0
            )
        }
        try copy.close()
        try source.close()
        let (sha, size) = try BackupContainer.write(source: snapshot, destination: partial, key: key?.bytes)
        let manifest = Manifest(
            // Whole seconds: what the manifest's ISO 8601 time keeps.
            createdAt: Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)),
            file: name + ".wbk",
            fileSHA256: try fileSHA256(partial),
            snapshotSHA256: sha,
            snapshotBytes: size,
            encrypted: key != nil,
            keyID: key.map { keyID($0) },
            events: events,
            samples: samples
        )
        try FileManager.default.moveItem(atPath: partial, toPath: directory + "/" + manifest.file)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: directory + "/" + name + ".json"), options: .atomic)
        return manifest
    }

    /// Checks the backup `file` (its manifest beside it, every chunk, the snapshot's checksum and
    /// SQLite's integrity check) and only then puts it in place of `database`, keeping what was
    /// there as `DATABASE.before-restore`. Nothing is replaced when anything is wrong.
    public static func restore(file: String, database: String, key: Secret?) throws -> Manifest {
        let manifestPath = (file as NSString).deletingPathExtension + ".json"
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw Failure("no manifest at \(manifestPath): a backup is its .wbk file and its .json manifest")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let manifest = try? decoder.decode(Manifest.self, from: data), manifest.version == 1 else {
            throw Failure("\(manifestPath) is not a backup manifest Warden can read")
        }
        try check(file, sha256: manifest.fileSHA256, encrypted: manifest.encrypted, keyID: manifest.keyID, key: key)
        let directory = (database as NSString).deletingLastPathComponent
        let staged = directory + "/.restore-" + UUID().uuidString
        defer {
            for path in [staged, staged + "-wal", staged + "-shm"] { try? FileManager.default.removeItem(atPath: path) }
        }
        let (sha, size) = try BackupContainer.read(
            source: file,
            destination: staged,
            key: key?.bytes
        )
        guard sha == manifest.snapshotSHA256, size == manifest.snapshotBytes else {
            throw Failure("the snapshot in \(file) does not match its manifest")
        }
        let check = try DatabaseQueue(path: staged)
        let integrity = try check.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") }
        try check.close()
        guard integrity == ["ok"] else {
            throw Failure("the snapshot fails SQLite's integrity check: \(integrity.prefix(3).joined(separator: "; "))")
        }
        let fm = FileManager.default
        // The store replaced is kept whole: its WAL holds what was not checkpointed yet.
        for suffix in ["", "-wal", "-shm"] {
            let aside = database + ".before-restore" + suffix
            try? fm.removeItem(atPath: aside)
            if fm.fileExists(atPath: database + suffix) { try fm.moveItem(atPath: database + suffix, toPath: aside) }
        }
        try fm.moveItem(atPath: staged, toPath: database)
        return manifest
    }

    /// Deletes all but the newest `keep` backups in `directory` (by their manifests); returns the
    /// files deleted.
    @discardableResult public static func prune(
        directory: String,
        keep: Int,
        prefix: String = "warden-"
    ) throws
        -> [String]
    {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter {
                $0.hasPrefix(prefix) && $0.hasSuffix(".json") && (prefix != "warden-" || !$0.hasPrefix("warden-pg-"))
            }
            .sorted()
        var deleted: [String] = []
        for manifest in names.dropLast(max(0, keep)) {
            let base = String(manifest.dropLast(5))
            for file in [base + ".wbk", manifest] {
                if (try? FileManager.default.removeItem(atPath: directory + "/" + file)) != nil { deleted.append(file) }
            }
        }
        return deleted
    }

    /// Checks `file` against its manifest's checksum, and `key` against what the manifest says
    /// of encryption, before anything is read from it.
    static func check(_ file: String, sha256: String, encrypted: Bool, keyID id: String?, key: Secret?) throws {
        guard try fileSHA256(file) == sha256 else {
            throw Failure(
                "\(file) does not match its manifest's checksum: it is damaged or not the file the manifest describes"
            )
        }
        if !encrypted, key != nil {
            throw Failure("a key was given but the backup is not encrypted (nothing authenticates it)")
        }
        if encrypted {
            guard let key else { throw Failure("the backup is encrypted: give its key (--key)") }
            if let id, id != keyID(key) {
                throw Failure("the key given is not the key of this backup (key id \(keyID(key)), backup's \(id))")
            }
        }
    }

    static func keyID(_ key: Secret) -> String {
        String(SHA256.hash(data: key.bytes).map { String(format: "%02x", $0) }.joined().prefix(16))
    }

    static func fileSHA256(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Failure("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `20261201T140512Z`, with milliseconds so that two backups a second apart differ.
    static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        return f.string(from: date)
    }
}
