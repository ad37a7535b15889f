import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    func handleExit(name: String, generation: UInt64, status: ExitStatus, attempt: Int = 0) {
        guard let s = services[name], s.generation == generation, let pid = s.pid else { return }
        // After MAINPID= the former main process may still run; its exit is not the service's
        // while the current main lives.
        if let former = s.formerMain {
            if let st = ProcFS.stat(pid), st.startTime == s.startTime, !st.isZombie {
                s.formerMain = nil
                logger.debug(
                    "former main process exited",
                    metadata: ["warden.service": "\(s.name)", "warden.pid": "\(former)"]
                )
                return
            }
            s.formerMain = nil
        }
        let now = clock.now()
        let ranFor = s.spawnedAt.map { now - $0 } ?? .zero
        let wasStopping: Bool
        if case .stopping = s.machine.state { wasStopping = true } else { wasStopping = false }

        // A clean exit that leaves a process of this instance behind, re-parented to Warden, is a
        // daemon that forked into the background: follow it instead of restarting.
        if status.isSuccess, !wasStopping {
            if let daemon = findDaemon(of: s, exited: pid) {
                follow(daemon: daemon, of: s)
                return
            }
            // The forked child can show up in /proc a moment after its parent's exit is reported:
            // look again for up to 50 ms before calling this a plain exit.
            if attempt < 10 {
                let input = self.input
                let clock = self.clock
                Task {
                    try? await clock.sleep(for: .milliseconds(5))
                    input.yield(.recheckExit(name, generation, status, attempt + 1))
                }
                return
            }
        }

        // Restart only once the old processes are really gone: an adopted process is not Warden's
        // child, so when its pidfd fires it can still be a zombie until init reaps it, and what
        // is left of its group may still hold ports, locks and shared memory (postgres refuses to
        // start while its lock file names a pid that exists). Bounded: past the wait, go on.
        let groupLeft = s.pgid.map { !allGone(s, pid: pid, pgid: $0) } ?? false
        if groupLeft || cgroupPopulated(s) {
            if s.goneDeadline == nil {
                s.goneDeadline = now + Self.goneWait
                if let pgid = s.pgid { _ = kill(-pgid, SIGKILL) }
                // Whatever is left in the cgroup (a process that left the group): frozen while
                // it is killed, so nothing forks past it; once, not on every look.
                s.cgroup?.kill()
            }
            if let deadline = s.goneDeadline, now < deadline {
                let input = self.input
                let clock = self.clock
                Task {
                    try? await clock.sleep(for: .milliseconds(5))
                    input.yield(.awaitGone(name, generation, status))
                }
                return
            }
            logger.warning(
                "exited service's processes are still there; going on",
                metadata: ["warden.service": "\(s.name)", "warden.pid": "\(pid)"]
            )
        }

        s.lastExit = status
        // The OOM killer's SIGKILL (to the main process, or to a child the main died of).
        checkOOM(s)
        // Against the count at the start (a stats pass may have reported the kill already).
        let oomKilled =
            s.oomKills > s.oomKillsAtStart && (status == .signaled(SIGKILL, coreDumped: false) || status == .unknown)
        logger.info(
            "service exited",
            metadata: ["warden.service": "\(s.name)", "warden.pid": "\(pid)", "warden.status": "\(status)"]
        )
        publish(
            ServiceExited(pid: Int64(pid), status: status, runtimeMs: ranFor.milliseconds, expected: wasStopping),
            s
        )
        s.exitsMetric.increment()

        // Whatever the main process left in its group goes with it.
        if let pgid = s.pgid, ProcFS.groupExists(pgid) { _ = kill(-pgid, SIGKILL) }
        records.remove(s.name)
        s.clearProcess()

        let cause =
            oomKilled
            ? "killed by the OOM killer\(s.spec.limits.memoryMax.map { " (memory_max \(ByteSize.format($0)))" } ?? "")"
            : nil
        let actions = s.machine.exited(status, now: now, cause: cause)
        setState(s)
        perform(actions, for: s)
        if !s.machine.hasProcess {
            if case .idle = s.machine.state { markStopped(s) }
        }
    }

    /// How long an exit waits for the service's last processes to be gone before it is handled.
    static let goneWait = Duration.seconds(10)

    /// Whether the exited main process (when adopted: not even a zombie any more) and every
    /// member of its process group are gone.
    func allGone(_ s: ManagedService, pid: pid_t, pgid: pid_t) -> Bool {
        if ProcFS.groupExists(pgid) { return false }
        if s.adopted, let st = ProcFS.stat(pid), st.startTime == s.startTime { return false }
        return true
    }

    /// The service is down and will stay down (until started): tidy up, and go on with a reload
    /// swap, a removal or the shutdown order.
    func markStopped(_ s: ManagedService) {
        records.remove(s.name)
        if let pgid = s.pgid, ProcFS.groupExists(pgid) { _ = kill(-pgid, SIGKILL) }
        killTagged(s)
        if let cgroup = s.cgroup {
            checkOOM(s)
            cgroup.kill()
            // Removed now if already empty; otherwise at the next start or when Warden stops.
            cgroup.remove()
        }
        s.clearProcess()
        setState(s)
        publish(ServiceStopped(), s)

        if s.removeWhenStopped {
            s.notify?.close()
            services.removeValue(forKey: s.name)
            order.removeAll { $0 == s.name }
            return
        }
        if let next = s.pendingSpec {
            s.pendingSpec = nil
            replace(s, with: next)
            return
        }
        if shuttingDown { continueShutdown() }
    }

    /// A process of this instance that survived the main process and is now Warden's child.
    func findDaemon(of s: ManagedService, exited: pid_t) -> ProcStat? {
        let me = getpid()
        var candidates: [ProcStat] = []
        for pid in ProcFS.allPids() where pid != exited {
            guard let st = ProcFS.stat(pid), st.ppid == me, !st.isZombie else { continue }
            guard let env = ProcFS.environment(pid), env["WARDEN_INSTANCE"] == s.instance else { continue }
            candidates.append(st)
        }
        return candidates.min { $0.startTime < $1.startTime }
    }

    func follow(daemon: ProcStat, of s: ManagedService) {
        let previous = s.pid
        if let previous, let st = ProcFS.stat(previous), !st.isZombie { s.formerMain = previous }
        s.pid = daemon.pid
        s.pgid = daemon.pgrp
        s.startTime = daemon.startTime
        let name = s.name
        let generation = s.generation
        let input = self.input
        if daemon.ppid == getpid() {
            ChildReaper.shared.watch(pid: daemon.pid) { status in input.yield(.exited(name, generation, status)) }
        } else {
            // Not Warden's child (MAINPID= named a grandchild): its exit comes through a pidfd.
            s.dropPidfd()
            let fd = warden_pidfd_open(daemon.pid)
            if fd >= 0 {
                s.pidfd = fd
                s.pidfdToken = IOWatcher.shared.add(fd: fd, once: true) { _ in
                    input.yield(.exited(name, generation, .unknown))
                }
            }
        }
        saveRecord(s, ready: isReady(s))
        logger.info("service daemonized", metadata: ["warden.service": "\(s.name)", "warden.pid": "\(daemon.pid)"])
        publish(ServiceDaemonized(pid: Int64(daemon.pid), previousPid: previous.map(Int64.init)), s)
    }
}
