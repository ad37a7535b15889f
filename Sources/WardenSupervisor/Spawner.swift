import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// What to start and how.
public struct SpawnRequest: Sendable {
    /// Absolute path of the program.
    public var executable: String
    /// Full argument vector, including argv[0].
    public var arguments: [String]
    /// The complete environment of the child.
    public var environment: [String: String]
    /// Working directory; nil inherits Warden's.
    public var cwd: String?
    /// Identity to drop to; nil keeps Warden's.
    public var identity: Accounts.Identity?
    /// fds for the child's stdin, stdout and stderr; -1 means /dev/null.
    public var stdin: Int32 = -1
    public var stdout: Int32 = -1
    public var stderr: Int32 = -1
    /// Give the child its own session and process group (pgid == pid).
    public var newSession = true
    /// `cgroup.procs` files open for writing (the caller's, closed by the caller): the child
    /// joins each before it execs.
    public var cgroupFiles: [Int32] = []

    public init(
        executable: String,
        arguments: [String],
        environment: [String: String],
        cwd: String? = nil,
        identity: Accounts.Identity? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.cwd = cwd
        self.identity = identity
    }
}

/// Why a spawn failed, with the step that failed.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var errno: Int32
    public var executable: String

    public var description: String {
        "cannot start \(executable): \(stage) failed: \(String(cString: strerror(errno)))"
    }
}

/// Starts processes with fork and exec, doing only async-signal-safe work in the child.
public enum Spawner {
    /// Spawns `request`; `onExit` is called (on the reaper thread) when the child exits.
    ///
    /// Returns once the child has exec'd, so a missing program, a bad cwd or a failed privilege drop
    /// is reported here rather than as an exit code 127.
    public static func spawn(_ request: SpawnRequest, onExit: @escaping ChildReaper.Handler) throws(SpawnError) -> pid_t
    {
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devnull >= 0 { close(devnull) } }

        let argv = CStringArray(request.arguments)
        let envp = CStringArray(request.environment.map { "\($0.key)=\($0.value)" }.sorted())
        let path = strdup(request.executable)!
        let cwd = request.cwd.map { strdup($0)! }
        let groups = request.identity?.groups.map { gid_t($0) } ?? []
        let cgroupFiles = request.cgroupFiles
        defer {
            free(path)
            if let cwd { free(cwd) }
        }

        var stage: Int32 = 0
        var err: Int32 = 0
        var failedPid: pid_t = 0
        let pid = try ChildReaper.shared.spawn(
            { () throws(SpawnError) -> pid_t in
                var pid: pid_t = 0
                let rc = groups.withUnsafeBufferPointer { groupBuffer -> Int32 in
                    cgroupFiles.withUnsafeBufferPointer { cgroupBuffer -> Int32 in
                        var attr = warden_spawn_attr()
                        attr.cgroup_fds = cgroupBuffer.baseAddress
                        attr.ncgroup_fds = cgroupBuffer.count
                        attr.path = UnsafePointer(path)
                        attr.argv = UnsafePointer(argv.pointer)
                        attr.envp = UnsafePointer(envp.pointer)
                        attr.cwd = cwd.map { UnsafePointer($0) }
                        attr.stdin_fd = request.stdin >= 0 ? request.stdin : devnull
                        attr.stdout_fd = request.stdout >= 0 ? request.stdout : devnull
                        attr.stderr_fd = request.stderr >= 0 ? request.stderr : devnull
                        attr.new_session = request.newSession ? 1 : 0
                        if let id = request.identity {
                            attr.set_ids = 1
                            attr.uid = id.uid
                            attr.gid = id.gid
                            attr.groups = groupBuffer.baseAddress
                            attr.ngroups = groupBuffer.count
                        }
                        return warden_spawn(&attr, &pid, &stage, &err)
                    }
                }
                if rc != 0 {
                    if stage == Int32(WARDEN_STAGE_FORK) {
                        throw SpawnError(stage: "fork", errno: err, executable: request.executable)
                    }
                    // The child exists and will exit 127; its exit is reaped and ignored.
                    failedPid = pid
                    return pid
                }
                return pid
            },
            onExit: onExit
        )
        if failedPid != 0 {
            ChildReaper.shared.forget(pid: failedPid)
            throw SpawnError(stage: stageName(stage), errno: err, executable: request.executable)
        }
        return pid
    }

    private static func stageName(_ stage: Int32) -> String {
        switch Int(stage) {
        case Int(WARDEN_STAGE_SETSID): return "setsid"
        case Int(WARDEN_STAGE_DUP): return "redirecting output"
        case Int(WARDEN_STAGE_CHDIR): return "changing directory"
        case Int(WARDEN_STAGE_SETGROUPS): return "setgroups"
        case Int(WARDEN_STAGE_SETGID): return "setgid"
        case Int(WARDEN_STAGE_SETUID): return "setuid"
        case Int(WARDEN_STAGE_EXEC): return "exec"
        case Int(WARDEN_STAGE_CGROUP): return "joining its cgroup"
        default: return "spawn"
        }
    }
}

/// A NULL-terminated array of C strings that lives as long as this value.
final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointer[i] = strdup(s) }
        pointer[strings.count] = nil
    }

    deinit {
        for i in 0..<count { free(pointer[i]) }
        pointer.deallocate()
    }
}
