import CWardenSys
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reaps every child of this process the moment it exits and tells whoever spawned it.
///
/// One thread blocks in `waitid(P_ALL)`: an exit is noticed in microseconds, with no polling, and no
/// zombie outlives its exit. Because it reaps *all* children (including orphans re-parented to a
/// subreaper), everything in the process that spawns children must do so through
/// ``spawn(_:onExit:)`` — `Foundation.Process` must not be used alongside it.
public final class ChildReaper: Sendable {
    /// The process-wide reaper.
    public static let shared = ChildReaper()

    public typealias Handler = @Sendable (ExitStatus) -> Void

    private struct State {
        var handlers: [pid_t: Handler] = [:]
        /// Exits of pids nobody registered (yet): orphans, or a race with ``watch(pid:onExit:)``.
        var unclaimed: [pid_t: ExitStatus] = [:]
        var unclaimedOrder: [pid_t] = []
        var started = false
        var orphanObservers: [UInt64: @Sendable (pid_t, ExitStatus) -> Void] = [:]
        var nextObserver: UInt64 = 0
    }

    private let state = Mutex(State())
    private let childrenExist = DispatchSemaphore(value: 0)

    private init() {}

    /// Runs `body` (which forks and returns the child's pid) so that the child's exit cannot be
    /// reaped before `onExit` is registered. Starts the reaper thread on first use.
    public func spawn<E: Error>(_ body: () throws(E) -> pid_t, onExit: @escaping Handler) throws(E) -> pid_t {
        startIfNeeded()
        let pid: pid_t = try state.withLock { (s: inout State) throws(E) -> pid_t in
            let pid = try body()
            if let status = s.unclaimed.removeValue(forKey: pid) {
                // A pid reused within the unclaimed window: that old exit is not this child's.
                _ = status
            }
            s.handlers[pid] = onExit
            return pid
        }
        childrenExist.signal()
        return pid
    }

    /// Registers interest in a child that Warden did not spawn itself: a daemon re-parented to
    /// this subreaper. If it already exited and was reaped, `onExit` is called at once.
    public func watch(pid: pid_t, onExit: @escaping Handler) {
        startIfNeeded()
        let already = state.withLock { s -> ExitStatus? in
            if let status = s.unclaimed.removeValue(forKey: pid) { return status }
            s.handlers[pid] = onExit
            return nil
        }
        if let already { onExit(already) }
        childrenExist.signal()
    }

    /// Stops caring about `pid` (its exit will be reaped and dropped).
    public func forget(pid: pid_t) {
        _ = state.withLock { $0.handlers.removeValue(forKey: pid) }
    }

    /// Calls `observer` for every reaped child nobody registered (orphans). Returns a token for
    /// ``removeOrphanObserver(_:)``.
    public func addOrphanObserver(_ observer: @escaping @Sendable (pid_t, ExitStatus) -> Void) -> UInt64 {
        startIfNeeded()
        return state.withLock { s in
            s.nextObserver += 1
            s.orphanObservers[s.nextObserver] = observer
            return s.nextObserver
        }
    }

    public func removeOrphanObserver(_ token: UInt64) {
        _ = state.withLock { $0.orphanObservers.removeValue(forKey: token) }
    }

    /// Wakes the reaper because children may now exist that it did not spawn (for example after
    /// becoming a subreaper).
    public func childrenMayExist() {
        startIfNeeded()
        childrenExist.signal()
    }

    private func startIfNeeded() {
        let start = state.withLock { s -> Bool in
            if s.started { return false }
            s.started = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in self.loop() }
        thread.name = "warden-reaper"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    private func loop() {
        while true {
            var pid: pid_t = 0
            var code: Int32 = 0
            var status: Int32 = 0
            if warden_wait_any(&pid, &code, &status) != 0 {
                // ECHILD: nothing to wait for until something is spawned or adopted.
                childrenExist.wait()
                continue
            }
            let exit: ExitStatus
            switch code {
            case Int32(CLD_EXITED): exit = .exited(status)
            case Int32(CLD_KILLED): exit = .signaled(status, coreDumped: false)
            case Int32(CLD_DUMPED): exit = .signaled(status, coreDumped: true)
            default: exit = .unknown
            }
            let (handler, observers) = state.withLock { s -> (Handler?, [@Sendable (pid_t, ExitStatus) -> Void]) in
                if let h = s.handlers.removeValue(forKey: pid) { return (h, []) }
                s.unclaimed[pid] = exit
                s.unclaimedOrder.append(pid)
                if s.unclaimedOrder.count > 4096 {
                    let old = s.unclaimedOrder.removeFirst()
                    s.unclaimed.removeValue(forKey: old)
                }
                return (nil, Array(s.orphanObservers.values))
            }
            if let handler {
                handler(exit)
            } else {
                for o in observers { o(pid, exit) }
            }
        }
    }
}
