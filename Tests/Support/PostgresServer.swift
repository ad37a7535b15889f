import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of the test's own: a new cluster in a temporary directory, listening on a
/// free loopback port, run by the `postgres` system user (the server refuses to run as root).
/// `stop()` ends it; the directory goes with the value.
///
/// The first server of a test process runs `initdb` once into a template; every server copies
/// the template, so starting one takes well under a second. Without PostgreSQL installed
/// (`apt-get install postgresql`), starting throws: such a test fails, it never skips.
public final class PostgresServer: Sendable {
    public let port: Int
    public let dataDir: String
    /// The superuser the tests connect as (no password: `trust` on loopback only).
    public let user = "warden"
    private let dir: TempDir

    /// Settings for a test server: durable commits (a killed server keeps every acknowledged
    /// transaction), but no flush to the disk itself (the tests kill processes, not the machine).
    static let settings = ["fsync=off", "full_page_writes=off", "max_connections=200", "wal_level=replica"]

    public init(_ prefix: String = "warden-pg", extraSettings: [String] = []) async throws {
        let template = try await Self.template()
        dir = TempDir(prefix)
        dataDir = dir.file("data")
        port = freePort()
        try await Self.run("/bin/cp", ["-a", template, dataDir])
        let options = (Self.settings + extraSettings).map { "-c \($0)" }.joined(separator: " ")
        try await Self.asPostgres(
            Self.bin("pg_ctl"),
            [
                "-D", dataDir, "-l", dir.file("server.log"), "-w", "-t", "60",
                "-o", "-p \(port) -h 127.0.0.1 -k \(dataDir) \(options)", "start",
            ],
            chown: dir.path
        )
    }

    /// A server on an existing data directory (a restored backup), which is moved into the
    /// server's own temporary directory.
    public init(restored source: String) async throws {
        dir = TempDir("warden-pg-restored")
        dataDir = dir.file("data")
        port = freePort()
        try FileManager.default.moveItem(atPath: source, toPath: dataDir)
        try await Self.start(dataDir: dataDir, port: port, in: dir, settings: Self.settings)
    }

    /// A streaming-replication standby of `primary`: a base backup of it, started on a port of
    /// its own, following it (the primary makes its commits wait for it when
    /// `synchronous` is set, so that a promoted standby has every acknowledged record).
    public init(standbyOf primary: PostgresServer, synchronous: Bool = true) async throws {
        dir = TempDir("warden-pg-standby")
        dataDir = dir.file("data")
        port = freePort()
        try await Self.run("/bin/chown", ["postgres:postgres", dir.path])
        try await Self.asPostgres(
            Self.bin("pg_basebackup"),
            [
                "-h", "127.0.0.1", "-p", "\(primary.port)", "-U", primary.user, "-D", dataDir, "-R", "-X", "stream",
                "-c", "fast",
            ],
            chown: nil
        )
        try await Self.start(dataDir: dataDir, port: port, in: dir, settings: Self.settings)
        if synchronous {
            try await primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
            try await primary.psql("SELECT pg_reload_conf()")
            // Wait until the primary counts the standby as synchronous.
            for _ in 0..<200 {
                let state = try await primary.psql("SELECT sync_state FROM pg_stat_replication")
                if state == "sync" { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw WardenError(.store, "the standby never became synchronous")
        }
    }

    /// Starts a server on `dataDir` (handing `dir` to the postgres user first).
    static func start(dataDir: String, port: Int, in dir: TempDir, settings: [String]) async throws {
        let options = settings.map { "-c \($0)" }.joined(separator: " ")
        try await asPostgres(
            bin("pg_ctl"),
            [
                "-D", dataDir, "-l", dir.file("server.log"), "-w", "-t", "60",
                "-o", "-p \(port) -h 127.0.0.1 -k \(dataDir) \(options)", "start",
            ],
            chown: dir.path
        )
    }

    /// Makes a standby the primary.
    public func promote() async throws {
        try await Self.asPostgres(Self.bin("pg_ctl"), ["-D", dataDir, "-w", "promote"], chown: nil)
    }

    /// Kills the server as a crash would: SIGKILL to the postmaster, then to what it leaves.
    public func crash() {
        let pid = pidFromFile()
        guard pid > 1 else { return }
        // Its backends notice the postmaster's death within moments and exit.
        _ = kill(pid, SIGKILL)
    }

    /// A new, empty database on this server.
    public func createDatabase(_ name: String) async throws {
        _ = try await psql("CREATE DATABASE \(name)", database: "postgres")
    }

    /// Runs `sql` with psql and returns what it printed (unaligned, tuples only).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let r = try await runCommand(
            Self.bin("psql"),
            [
                "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d",
                database,
                "-c", sql,
            ]
        )
        guard r.exitCode == 0 else { throw WardenError(.store, "psql failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server: `fast` (clients are disconnected, a clean shutdown) or `immediate` (as a
    /// crash: no checkpoint, recovery at the next start).
    public func stop(_ mode: String = "fast") async {
        _ = try? await Self.asPostgres(Self.bin("pg_ctl"), ["-D", dataDir, "-m", mode, "-w", "stop"], chown: nil)
    }

    /// The server's log, for a failing test's message.
    public var log: String { (try? String(contentsOfFile: dir.file("server.log"), encoding: .utf8)) ?? "" }

    deinit {
        // A server whose test forgot to stop it must not outlive the directory it runs in.
        // (Never kill(-1, …): that would signal every process there is.)
        let pid = pidFromFile()
        if pid > 1 { _ = kill(pid, SIGQUIT) }
    }

    private func pidFromFile() -> pid_t {
        guard let text = try? String(contentsOfFile: dataDir + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first), pid > 1
        else { return 0 }
        return pid
    }

    // MARK: - The installation

    /// The directory of the newest installed PostgreSQL's programs.
    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted()
        guard let newest = versions.last(where: { access("\(root)/\($0)/bin/initdb", X_OK) == 0 }) else {
            throw WardenError(
                .store,
                "PostgreSQL is not installed (no \(root)/*/bin/initdb): apt-get install postgresql"
            )
        }
        return "\(root)/\(newest)/bin"
    }

    static func bin(_ name: String) throws -> String { try binDirectory() + "/" + name }

    private static let templateOwner = TempDir("warden-pg-template")
    private static let templateTask = Mutex<Task<String, any Error>?>(nil)

    /// `initdb` once per test process: the first caller starts it, the others wait for the same.
    static func template() async throws -> String {
        let task = templateTask.withLock { task in
            if let task { return task }
            let started = Task<String, any Error> {
                let data = templateOwner.file("data")
                try await asPostgres(
                    bin("initdb"),
                    ["-D", data, "-U", "warden", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                    chown: templateOwner.path
                )
                return data
            }
            task = started
            return started
        }
        return try await task.value
    }

    /// Runs a program as the `postgres` user, after handing it `chown` (recursively).
    static func asPostgres(_ program: String, _ arguments: [String], chown: String?) async throws {
        if let chown { try await run("/bin/chown", ["-R", "postgres:postgres", chown]) }
        try await run("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments)
    }

    static func run(_ program: String, _ arguments: [String]) async throws {
        let r = try await runCommand(program, arguments, timeout: .seconds(120))
        guard r.exitCode == 0 else {
            throw WardenError(.store, "\(program) \(arguments.joined(separator: " ")) failed: \(r.stderr)\(r.stdout)")
        }
    }
}
