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
    /// kill's.
    public static func run(_ request: SpawnRequest, timeout: Duration? = nil) async throws(SpawnError) -> ExitStatus {
        let child = try spawn(request)
        guard let timeout else { return await child.wait() }
        let killer = Task {
            try await Task.sleep(for: timeout)
            child.signalGroup(SIGKILL)
        }
        let status = await child.wait()
        killer.cancel()
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
