import ArgumentParser
import Foundation
import WardenCore
import WardenStore
import WardenSupervisor

/// `warden backup`: an online snapshot of the store, encrypted when given a key.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the store (while Warden runs) into a directory: a .wbk file and its .json manifest.",
        discussion: """
            The snapshot is consistent (SQLite's backup API copies one read transaction's view while
            Warden goes on writing). With --key (env:NAME, file:PATH or vault:PATH#FIELD; any secret,
            stretched with HKDF-SHA256) it is encrypted with AES-256-GCM in authenticated chunks.
            --keep N deletes all but the newest N backups of the directory.

            With --postgres URL it backs up a fleet's PostgreSQL store instead (the whole cluster,
            online, with pg_basebackup; the role needs REPLICATION), into the same kind of file.
            """
    )

    @OptionGroup var spec: SpecOptions
    @Option(help: "The directory the backup goes into.") var to: String
    @Option(help: "The encryption key, as a secret reference (env:NAME, file:PATH, vault:PATH#FIELD).") var key: String?
    @Option(help: "Keep only the newest N backups in the directory.") var keep: Int?
    @Option(help: "Back up this PostgreSQL cluster (a fleet's store) instead of the node's SQLite store.")
    var postgres: String?

    func run() async throws {
        // The copies (and their temporary files) are for this user only.
        umask(0o077)
        let secret = try key.map { try resolveKey($0, command: "backup") }
        try await reportingBackupFailures("backup") {
            let started = Date()
            let line: String
            let prefix: String
            if let postgres {
                let manifest = try await PostgresBackup.create(
                    connection: postgres,
                    directory: to,
                    key: secret,
                    tools: try PostgresBackup.Tools.find(environment: ProcessEnvironment.current()),
                    run: Self.postgresRunner
                )
                line =
                    "\(to)/\(manifest.file): the PostgreSQL cluster, \(ByteSize.format(manifest.snapshotBytes))"
                    + (manifest.encrypted ? ", encrypted" : "")
                prefix = "warden-pg-"
            } else {
                let database = (try Target(spec).stateDir as NSString).appendingPathComponent("warden.db")
                let manifest = try StoreBackup.create(database: database, directory: to, key: secret)
                line =
                    "\(to)/\(manifest.file): \(manifest.events) events, \(manifest.samples) samples, "
                    + ByteSize.format(manifest.snapshotBytes) + (manifest.encrypted ? ", encrypted" : "")
                prefix = "warden-"
            }
            print(line + " in " + String(format: "%.1f s", Date().timeIntervalSince(started)))
            if let keep {
                guard keep >= 1 else {
                    printError("warden backup: --keep must be at least 1")
                    throw ExitCode(1)
                }
                for file in try StoreBackup.prune(directory: to, keep: keep, prefix: prefix) {
                    print("deleted \(to)/\(file)")
                }
            }
        }
    }
}

extension ParsableCommand {
    /// Runs PostgreSQL's tools and tar through Warden's spawner, with their own environment.
    static var postgresRunner: PostgresBackup.Runner {
        { argv, environment in
            let c = await ChildProcess.captureSeparately(
                argv,
                environment: environment,
                timeout: .seconds(86400),
                limit: 1 << 20
            )
            return (c.status, String(decoding: c.stdout, as: UTF8.self) + c.stderr)
        }
    }
}

/// Runs `body`; a backup's own failure is printed as `warden COMMAND: why` (then `suffix`) and
/// ends the command with status 1.
func reportingBackupFailures(
    _ command: String,
    suffix: String = "",
    _ body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch let error as StoreBackup.Failure {
        printError("warden \(command): \(error.message)\(suffix)")
        throw ExitCode(1)
    } catch let error as BackupContainer.Failure {
        printError("warden \(command): \(error.message)\(suffix)")
        throw ExitCode(1)
    }
}

/// `warden restore`: a backup checked in full, then put in place of the store.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the store from a backup (Warden must be stopped); checks it in full first.",
        discussion: """
            The backup file must match its manifest's checksum, every chunk must open (with the
            key, when encrypted), the snapshot must match its checksum and pass SQLite's integrity
            check; only then does it replace the store, whose old file is kept as
            warden.db.before-restore. A damaged or truncated backup, or a wrong key, changes nothing.

            A PostgreSQL backup (warden backup --postgres) is restored with --postgres-data DIR into
            a new data directory, checked by pg_verifybackup before it takes that name; start a
            server on it (chown it to the server's user first).
            """
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The backup's .wbk file (its .json manifest beside it).") var file: String
    @Option(help: "The key it was encrypted with, as a secret reference.") var key: String?
    @Option(help: "Restore a PostgreSQL backup into this new data directory.") var postgresData: String?

    func run() async throws {
        umask(0o077)
        let secret = try key.map { try resolveKey($0, command: "restore") }
        try await reportingBackupFailures("restore", suffix: "; nothing was changed") {
            let started = Date()
            let line: String
            if let postgresData {
                let manifest = try await PostgresBackup.restore(
                    file: file,
                    into: postgresData,
                    key: secret,
                    tools: try PostgresBackup.Tools.find(environment: ProcessEnvironment.current()),
                    run: Self.postgresRunner
                )
                line =
                    "restored the PostgreSQL cluster of \(ISOTime.format(manifest.createdAt)) into \(postgresData) "
                    + "(verified by pg_verifybackup)"
            } else {
                let target = try Target(spec)
                if let pid = StateDirectory.runningWarden(at: target.stateDir) {
                    printError("warden restore: Warden (pid \(pid)) runs on \(target.stateDir); stop it first")
                    throw ExitCode(1)
                }
                let database = (target.stateDir as NSString).appendingPathComponent("warden.db")
                let manifest = try StoreBackup.restore(file: file, database: database, key: secret)
                line =
                    "restored \(manifest.events) events and \(manifest.samples) samples of "
                    + "\(ISOTime.format(manifest.createdAt)) into \(database)"
            }
            print(line + " in " + String(format: "%.1f s", Date().timeIntervalSince(started)))
        }
    }
}

/// A key given as a secret reference.
func resolveKey(_ reference: String, command: String) throws -> Secret {
    switch SpecLoader.warden().resolveSecret(reference) {
    case .success(let secret):
        guard secret.bytes.count >= 16 else {
            printError("warden \(command): --key: the key must be at least 16 bytes (use 32 random bytes)")
            throw ExitCode(1)
        }
        return secret
    case .failure(let problem):
        printError("warden \(command): --key: \(problem.message)")
        throw ExitCode(1)
    }
}
