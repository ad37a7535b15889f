import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Warden's state directory, prepared and locked for one running Warden.
///
/// Layout: `warden.db` (the store), `logs/` (service output), `run/` (runtime records, notify
/// sockets, the control socket) and `warden.lock` (held with flock while Warden runs; released by
/// the kernel however Warden ends, so a kill -9 never leaves a stale lock).
public final class StateDirectory: Sendable {
    public let path: String
    private let lockFD: Int32

    public var databasePath: String { (path as NSString).appendingPathComponent("warden.db") }
    public var logDirectory: String { Self.logDirectory(path) }
    public var runDirectory: String { Self.runDirectory(path) }
    public var controlSocket: String { Self.controlSocket(path) }

    public static func logDirectory(_ path: String) -> String { (path as NSString).appendingPathComponent("logs") }
    public static func runDirectory(_ path: String) -> String { (path as NSString).appendingPathComponent("run") }
    public static func controlSocket(_ path: String) -> String {
        ((path as NSString).appendingPathComponent("run") as NSString).appendingPathComponent("control.sock")
    }

    /// Creates the directories, checks they are writable and takes the lock.
    ///
    /// - Throws: ``WardenError`` `.stateDir` when the directory cannot be created or written, and
    ///   `.alreadyRunning` when another Warden holds the lock.
    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        for dir in [path, Self.logDirectory(path), Self.runDirectory(path)] {
            do {
                try fm.createDirectory(
                    atPath: dir,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o750]
                )
            } catch {
                throw WardenError(
                    .stateDir,
                    "cannot create the state directory \(dir); choose a writable state_dir in the spec or fix its permissions",
                    cause: error
                )
            }
        }
        let probe = (path as NSString).appendingPathComponent(".write-test-\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw WardenError(
                .stateDir,
                "the state directory \(path) is not writable (\(String(cString: strerror(errno)))); choose a writable state_dir or fix its permissions"
            )
        }
        close(fd)
        unlink(probe)

        let lockPath = (path as NSString).appendingPathComponent("warden.lock")
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else {
            throw WardenError(.stateDir, "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            let holder = ProcFS.readSmallFile(lockPath)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(lock)
            throw WardenError(
                .alreadyRunning,
                "another Warden (pid \(holder)) is already running with the state directory \(path); stop it first or use another state_dir"
            )
        }
        _ = ftruncate(lock, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(lock, $0, strlen($0), 0) }
        lockFD = lock
    }

    /// The pid of the Warden holding the lock on `path`, if one is running.
    public static func runningWarden(at path: String) -> pid_t? {
        let lockPath = (path as NSString).appendingPathComponent("warden.lock")
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return ProcFS.readSmallFile(lockPath).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    deinit { close(lockFD) }
}
