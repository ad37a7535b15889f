import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A process started by Warden whose exit can be awaited.
public final class ChildProcess: Sendable {
    /// The child's pid (also its process group id: it leads its own session).
    public let pid: pid_t
    private let exit: ExitBox

    private init(pid: pid_t, exit: ExitBox) {
        self.pid = pid
        self.exit = exit
    }

    /// Starts `request`.
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> ChildProcess {
        let box = ExitBox()
        let pid = try Spawner.spawn(request) { status in box.complete(status) }
        return ChildProcess(pid: pid, exit: box)
    }

    /// Waits for the exit.
    public func wait() async -> ExitStatus { await exit.wait() }

    /// The exit status if it has exited.
    public var exitStatus: ExitStatus? { exit.status }

    /// Sends `signal` to the child's whole process group.
    public func signalGroup(_ signal: Int32) { _ = kill(-pid, signal) }

    /// Runs `request` to completion; after `timeout` the whole group is killed and the status is the
    /// kill's. Cancelling the calling task stops the command too: its group gets SIGTERM, then
    /// SIGKILL after `grace`.
    public static func run(
        _ request: SpawnRequest,
        timeout: Duration? = nil,
        grace: Duration = .seconds(5)
    ) async throws(SpawnError) -> ExitStatus {
        let child = try spawn(request)
        let killer = timeout.map { timeout in
            Task {
                try await SystemClock().sleep(for: timeout)
                child.signalGroup(SIGKILL)
            }
        }
        let status = await withTaskCancellationHandler {
            await child.wait()
        } onCancel: {
            child.signalGroup(SIGTERM)
            Task {
                try? await SystemClock().sleep(for: grace)
                if child.exitStatus == nil { child.signalGroup(SIGKILL) }
            }
        }
        killer?.cancel()
        // Anything the command left behind in its group goes too.
        child.signalGroup(SIGKILL)
        return status
    }
}

/// Holds an exit status until someone waits for it.
final class ExitBox: Sendable {
    private struct State {
        var status: ExitStatus?
        var waiters: [CheckedContinuation<ExitStatus, Never>] = []
    }
    private let state = Mutex(State())

    var status: ExitStatus? { state.withLock { $0.status } }

    func complete(_ status: ExitStatus) {
        let waiters = state.withLock { s -> [CheckedContinuation<ExitStatus, Never>] in
            s.status = status
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: status) }
    }

    func wait() async -> ExitStatus {
        await withCheckedContinuation { (c: CheckedContinuation<ExitStatus, Never>) in
            let ready = state.withLock { s -> ExitStatus? in
                if let st = s.status { return st }
                s.waiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

extension ChildProcess {
    /// A temporary file already unlinked (gone with its last descriptor), close-on-exec; -1
    /// when none can be made.
    static func unlinkedTempFile() -> Int32 {
        var template = Array("/tmp/warden-cmd-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            unlink(String(cString: template))
        }
        return fd
    }

    /// Runs `argv` (an absolute program path first) with `input` on stdin, to completion or
    /// `timeout`; returns its exit status and what it printed (stdout then stderr, at most 1 MiB).
    /// Goes through Warden's own spawner and reaper, so it is safe next to supervised services.
    public static func capture(
        _ argv: [String],
        input: String = "",
        timeout: Duration = .seconds(30)
    ) async -> (status: Int32, output: String) {
        let inFD = unlinkedTempFile()
        let outFD = unlinkedTempFile()
        defer {
            if inFD >= 0 { close(inFD) }
            if outFD >= 0 { close(outFD) }
        }
        guard inFD >= 0, outFD >= 0 else {
            return (127, "cannot make a temporary file: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(input.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(inFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            written += n
        }
        lseek(inFD, 0, SEEK_SET)
        var request = SpawnRequest(
            executable: argv[0],
            arguments: argv,
            environment: ProcessEnvironment.current(),
            cwd: nil
        )
        request.stdin = inFD
        request.stdout = outFD
        request.stderr = outFD
        let status: ExitStatus
        do {
            status = try await run(request, timeout: timeout)
        } catch {
            return (127, "\(error)")
        }
        var output = [UInt8](repeating: 0, count: 1 << 20)
        let n = output.withUnsafeMutableBytes { pread(outFD, $0.baseAddress, $0.count, 0) }
        let text = String(decoding: output.prefix(max(0, n)), as: UTF8.self)
        switch status {
        case .exited(let code): return (code, text)
        default: return (128, text + "\n\(status)")
        }
    }
}

extension ChildProcess {
    /// Starts `argv` (an absolute program path first) with its stdout on a pipe; returns the read
    /// end and a function that stops it (SIGTERM to its group). Its stderr is discarded. nil when
    /// it cannot be started.
    @Sendable
    public static func streaming(_ argv: [String]) -> (fd: Int32, stop: @Sendable () -> Void)? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer {
            close(fds[1])
            if null >= 0 { close(null) }
        }
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: ProcessEnvironment.current())
        request.stdout = fds[1]
        request.stderr = null
        guard let child = try? spawn(request) else {
            close(fds[0])
            return nil
        }
        return (fds[0], { child.signalGroup(SIGTERM) })
    }
}

extension ChildProcess {
    /// What ``captureSeparately(_:environment:timeout:limit:)`` returns.
    public struct Captured: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: String
        /// Whether stdout was longer than the limit.
        public var truncated: Bool
    }

    /// Runs `argv` (an absolute program path first) with `environment`, stdin empty, to
    /// completion or `timeout`; returns its exit status (128 for a signal, 127 when it cannot be
    /// started), its stdout (at most `limit` bytes) and its stderr (at most 64 KiB) apart.
    public static func captureSeparately(
        _ argv: [String],
        environment: [String: String],
        timeout: Duration,
        limit: Int
    ) async -> Captured {
        let outFD = unlinkedTempFile()
        let errFD = unlinkedTempFile()
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            for fd in [outFD, errFD, null] where fd >= 0 { close(fd) }
        }
        guard outFD >= 0, errFD >= 0, null >= 0 else {
            return Captured(status: 127, stdout: [], stderr: "cannot make a temporary file", truncated: false)
        }
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment, cwd: nil)
        request.stdin = null
        request.stdout = outFD
        request.stderr = errFD
        let status: ExitStatus
        do {
            status = try await run(request, timeout: timeout)
        } catch {
            return Captured(status: 127, stdout: [], stderr: "\(error)", truncated: false)
        }
        func read(_ fd: Int32, _ count: Int) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = buffer[got...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(got)) }
                if n <= 0 { break }
                got += n
            }
            return Array(buffer.prefix(got))
        }
        let out = read(outFD, limit + 1)
        let err = String(decoding: read(errFD, 64 << 10), as: UTF8.self)
        let code: Int32
        switch status {
        case .exited(let c): code = c
        default: code = 128
        }
        return Captured(
            status: code,
            stdout: Array(out.prefix(limit)),
            stderr: code == 128 ? err + "\n\(status)" : err,
            truncated: out.count > limit
        )
    }
}
