import Crypto
import Foundation
import WardenCore

/// Backups of a fleet's PostgreSQL store: `pg_basebackup` takes an online, consistent copy of the
/// whole cluster (its WAL included, so it starts on its own) with PostgreSQL's own manifest of
/// every file's checksum; Warden packs it into the same container as a node's backups
/// (encrypted, chunked, with a manifest and checksums) and, at restore, checks the container,
/// unpacks it beside the target and runs `pg_verifybackup` before the directory takes the
/// target's name. A damaged file, a wrong key or a copy that fails PostgreSQL's check leaves
/// nothing behind.
public enum PostgresBackup {
    /// Runs `argv` (absolute program first) to completion; its status and output (both streams).
    public typealias Runner =
        @Sendable (_ argv: [String], _ environment: [String: String]) async -> (status: Int32, output: String)

    public struct Manifest: Codable, Sendable, Equatable {
        public var version = 1
        public var kind = "postgresql"
        public var createdAt: Date
        public var file: String
        public var fileSHA256: String
        /// The SHA-256 and size of the tar of the data directory inside.
        public var snapshotSHA256: String
        public var snapshotBytes: Int64
        public var encrypted: Bool
        public var keyID: String?
        /// What `pg_basebackup --version` said.
        public var tool: String
    }

    /// The programs used: PostgreSQL's newest client tools and tar.
    public struct Tools: Sendable {
        public var basebackup: String
        public var verifybackup: String
        public var tar: String

        /// Finds them on `PATH`, else in Debian's `/usr/lib/postgresql/<version>/bin` (newest first).
        public static func find(environment: [String: String]) throws(StoreBackup.Failure) -> Tools {
            func onPath(_ name: String) -> String? {
                for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
                    let p = "\(dir)/\(name)"
                    if FileManager.default.isExecutableFile(atPath: p) { return p }
                }
                return nil
            }
            let versions =
                ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
                .compactMap(Int.init).sorted(by: >)
            func find(_ name: String) -> String? {
                for v in versions {
                    let p = "/usr/lib/postgresql/\(v)/bin/\(name)"
                    if FileManager.default.isExecutableFile(atPath: p) { return p }
                }
                return onPath(name)
            }
            guard let basebackup = find("pg_basebackup"), let verifybackup = find("pg_verifybackup") else {
                throw StoreBackup.Failure(
                    "pg_basebackup and pg_verifybackup (PostgreSQL 13 or later) are needed: apt-get install postgresql-client"
                )
            }
            guard let tar = onPath("tar") else { throw StoreBackup.Failure("tar is needed and is not on PATH") }
            return Tools(basebackup: basebackup, verifybackup: verifybackup, tar: tar)
        }
    }

    /// Backs up the cluster `connection` (a `postgres://` URL or `key=value` string; the role
    /// needs REPLICATION) into `directory`; returns the manifest.
    public static func create(
        connection: String,
        directory: String,
        key: Secret?,
        tools: Tools,
        run: Runner,
        now: Date = Date()
    ) async throws -> Manifest {
        guard !connection.hasPrefix("-") else { throw StoreBackup.Failure("the connection may not start with '-'") }
        // A password in the URL goes to pg_basebackup in its environment, not its arguments.
        var environment = ProcessEnvironment.current()
        var target = connection
        if var url = URLComponents(string: connection), let password = url.password {
            environment["PGPASSWORD"] = password
            url.password = nil
            target = url.string ?? connection
        }
        umask(0o077)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "warden-pg-" + StoreBackup.stamp(now)
        let work = directory + "/." + name + ".work"
        let tarball = work + ".tar"
        let partial = directory + "/." + name + ".wbk.partial"
        defer {
            for path in [work, tarball, partial] { try? FileManager.default.removeItem(atPath: path) }
        }
        // Tar format: a tablespace would be written to its own absolute path by the plain
        // format; here it is a tar of its own beside base.tar, and refused.
        let copy = await run(
            [
                tools.basebackup, "--dbname=\(target)", "--pgdata=\(work)", "--format=tar", "--wal-method=fetch",
                "--checkpoint=fast", "--no-password", "--label=warden \(name)", "--manifest-checksums=SHA256",
            ],
            environment
        )
        guard copy.status == 0 else {
            throw StoreBackup.Failure("pg_basebackup failed: \(clip(copy.output))")
        }
        let made = Set((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? [])
        guard made == ["base.tar", "backup_manifest"] else {
            throw StoreBackup.Failure(
                "the cluster has tablespaces (\(made.subtracting(["base.tar", "backup_manifest"]).sorted().joined(separator: ", "))); "
                    + "warden backup --postgres copies clusters without them: use pgBackRest for this one"
            )
        }
        let data = work + "/data"
        try FileManager.default.createDirectory(
            atPath: data,
            withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o700]
        )
        let unpacked = await run(
            [tools.tar, "--extract", "--file=\(work)/base.tar", "--directory=\(data)"],
            environment
        )
        guard unpacked.status == 0 else { throw StoreBackup.Failure("tar failed: \(clip(unpacked.output))") }
        try FileManager.default.removeItem(atPath: work + "/base.tar")
        try FileManager.default.moveItem(atPath: work + "/backup_manifest", toPath: data + "/backup_manifest")
        let packed = await run([tools.tar, "--create", "--file=\(tarball)", "--directory=\(data)", "."], environment)
        guard packed.status == 0 else { throw StoreBackup.Failure("tar failed: \(clip(packed.output))") }
        try? FileManager.default.removeItem(atPath: work)
        let version = await run([tools.basebackup, "--version"], environment)
        let (sha, size) = try BackupContainer.write(source: tarball, destination: partial, key: key?.bytes)
        let manifest = Manifest(
            createdAt: Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)),
            file: name + ".wbk",
            fileSHA256: try StoreBackup.fileSHA256(partial),
            snapshotSHA256: sha,
            snapshotBytes: size,
            encrypted: key != nil,
            keyID: key.map { StoreBackup.keyID($0) },
            tool: version.output.trimmingCharacters(in: .whitespacesAndNewlines)
        )
        try FileManager.default.moveItem(atPath: partial, toPath: directory + "/" + manifest.file)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: directory + "/" + name + ".json"), options: .atomic)
        return manifest
    }

    /// Restores the backup `file` into `dataDirectory`, which must not exist or be empty: the
    /// container is checked, unpacked beside it and verified by `pg_verifybackup`; only then is it
    /// moved into place (mode 0700, ready for `pg_ctl start` by the server's user once chowned).
    public static func restore(
        file: String,
        into dataDirectory: String,
        key: Secret?,
        tools: Tools,
        run: Runner
    ) async throws -> Manifest {
        let fm = FileManager.default
        umask(0o077)
        let environment = ProcessEnvironment.current()
        let dataDirectory =
            dataDirectory.hasPrefix("/") ? dataDirectory : fm.currentDirectoryPath + "/" + dataDirectory
        if fm.fileExists(atPath: dataDirectory),
            !((try? fm.contentsOfDirectory(atPath: dataDirectory))?.isEmpty ?? false)
        {
            throw StoreBackup.Failure("\(dataDirectory) exists and is not empty; restore into a new directory")
        }
        let manifestPath = (file as NSString).deletingPathExtension + ".json"
        guard let data = fm.contents(atPath: manifestPath) else {
            throw StoreBackup.Failure(
                "no manifest at \(manifestPath): a backup is its .wbk file and its .json manifest"
            )
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let manifest = try? decoder.decode(Manifest.self, from: data), manifest.version == 1,
            manifest.kind == "postgresql"
        else {
            throw StoreBackup.Failure("\(manifestPath) is not the manifest of a PostgreSQL backup")
        }
        try StoreBackup.check(
            file,
            sha256: manifest.fileSHA256,
            encrypted: manifest.encrypted,
            keyID: manifest.keyID,
            key: key
        )
        let parent = ((dataDirectory as NSString).standardizingPath as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let staged = parent + "/.restore-" + UUID().uuidString
        let tarball = staged + ".tar"
        defer {
            for path in [staged, tarball] { try? fm.removeItem(atPath: path) }
        }
        let (sha, size) = try BackupContainer.read(source: file, destination: tarball, key: key?.bytes)
        guard sha == manifest.snapshotSHA256, size == manifest.snapshotBytes else {
            throw StoreBackup.Failure("the copy in \(file) does not match its manifest")
        }
        try fm.createDirectory(
            atPath: staged,
            withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o700]
        )
        let unpacked = await run(
            [tools.tar, "--extract", "--file=\(tarball)", "--directory=\(staged)", "--no-same-owner"],
            environment
        )
        guard unpacked.status == 0 else { throw StoreBackup.Failure("tar failed: \(clip(unpacked.output))") }
        let verified = await run([tools.verifybackup, "--quiet", staged], environment)
        guard verified.status == 0 else {
            throw StoreBackup.Failure("pg_verifybackup refuses the copy: \(clip(verified.output))")
        }
        _ = chmod(staged, 0o700)
        if fm.fileExists(atPath: dataDirectory) { try fm.removeItem(atPath: dataDirectory) }
        try fm.moveItem(atPath: staged, toPath: dataDirectory)
        return manifest
    }

    static func clip(_ text: String) -> String {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "; ")
        return t.count > 600 ? String(t.prefix(600)) + "…" : t
    }
}
