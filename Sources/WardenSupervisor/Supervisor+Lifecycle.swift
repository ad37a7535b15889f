import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Adopts what an earlier Warden left running, then starts everything else in dependency order.
    func startUp() {
        started = true
        for svc in spec.services {
            services[svc.name] = ManagedService(
                spec: svc,
                logDirectory: logDirectory,
                seed: options.seed.map { $0 &+ UInt64(order.count) },
                now: clock.wallTime()
            )
            order.append(svc.name)
        }
        loadOutputs()
        setUpCgroups()
        adoptSurvivors()

        for name in DependencyGraph(spec.services).startOrder() {
            guard let s = services[name] else { continue }
            s.wanted = true
            startIfDependenciesReady(s, manual: false)
        }
        startStats()
        afterInput()
    }

    func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        logger.info("stopping all services")
        bus.publish(EventType.wardenStopping, source: "supervisor", subject: "warden")
        for s in services.values {
            s.wanted = false
            if !s.machine.hasProcess {
                _ = s.machine.stop(now: clock.now())
            } else if case .stopping = s.machine.state {
                // A restart (or an unhealthy stop) under way ends stopped: when its process exits,
                // nothing is started again behind the shutdown's back.
                _ = s.machine.stop(now: clock.now())
            }
        }
        continueShutdown()
    }

    /// Stops every service none of whose dependents is still running: reverse dependency order.
    func continueShutdown() {
        let now = clock.now()
        for name in order.reversed() {
            guard let s = services[name], s.machine.hasProcess else { continue }
            if case .stopping = s.machine.state { continue }
            let dependentsUp = order.contains { other in
                guard let o = services[other], o.spec.after.contains(name) else { return false }
                return o.machine.hasProcess
            }
            if !dependentsUp { perform(s.machine.stop(now: now), for: s) }
        }
    }

    func finishShutdown() {
        ticker?.cancel()
        statsTask?.cancel()
        for s in services.values {
            s.probeTask?.cancel()
            s.notify?.close()
            s.notify = nil
            s.dropPidfd()
        }
        // Services left running (for the next Warden to adopt) keep their cgroups.
        cgroupTree?.removeEmpty(services: services.values.filter { !$0.machine.hasProcess }.map(\.name))
        bus.publish(EventType.wardenStopped, source: "supervisor", subject: "warden")
        let waiters = readyWaitersDrain()
        for w in waiters { w.resume() }
    }

    // MARK: - Adoption

    /// Takes over services that are still running from before Warden was (re)started, using the
    /// runtime records, and (for a spawn whose record was never written) the environment tags.
    func adoptSurvivors() {
        var seen = Set<String>()
        for record in records.loadAll() {
            seen.insert(record.service)
            guard let s = services[record.service] else {
                // No longer in the spec: stop it.
                if ProcFS.isAlive(pid: record.pid, startTime: record.startTime) {
                    logger.info(
                        "stopping a service that is no longer in the spec",
                        metadata: ["warden.service": "\(record.service)"]
                    )
                    _ = kill(-record.pgid, SIGTERM)
                    let pgid = record.pgid
                    Task.detached {
                        try? await SystemClock().sleep(for: .seconds(10))
                        _ = kill(-pgid, SIGKILL)
                    }
                }
                records.remove(record.service)
                continue
            }
            if ProcFS.isAlive(pid: record.pid, startTime: record.startTime) {
                adopt(s, pid: record.pid, pgid: record.pgid, startTime: record.startTime, instance: record.instance)
                s.startedAt = record.startedAt
                s.stateSince = record.startedAt
                s.statusText = record.status
                if record.specDigest != Self.digest(s.spec) {
                    logger.info(
                        "adopted service changed while Warden was down; restarting",
                        metadata: ["warden.service": "\(s.name)"]
                    )
                    perform(s.machine.restart(now: clock.now()), for: s)
                }
            } else {
                diedWhileAway(s, record: record)
            }
        }
        // A process tagged with this state dir whose record was never written (Warden was killed
        // right after the spawn): adopt it rather than start a second copy.
        let missing = order.filter { !seen.contains($0) }
        guard !missing.isEmpty else { return }
        for pid in ProcFS.allPids() {
            guard let st = ProcFS.stat(pid), st.pgrp == pid, !st.isZombie, pid != getpid() else { continue }
            guard let env = ProcFS.environment(pid), env["WARDEN_STATE_DIR"] == spec.stateDir,
                let name = env["WARDEN_SERVICE"], missing.contains(name), let s = services[name], s.pid == nil
            else { continue }
            adopt(s, pid: pid, pgid: st.pgrp, startTime: st.startTime, instance: env["WARDEN_INSTANCE"] ?? "")
            saveRecord(s, ready: true)
        }
    }

    func adopt(_ s: ManagedService, pid: pid_t, pgid: pid_t, startTime: UInt64, instance: String) {
        s.generation += 1
        s.pid = pid
        s.pgid = pgid
        s.startTime = startTime
        s.instance = instance
        s.adopted = true
        s.wanted = true
        s.spawnedAt = clock.now()
        s.health = s.spec.health.map { ProbeTracker(failures: $0.failures, successes: $0.successes) }
        ensureNotifySocket(s)
        let name = s.name
        let generation = s.generation
        let input = self.input
        if ProcFS.stat(pid)?.ppid == getpid() {
            ChildReaper.shared.watch(pid: pid) { status in input.yield(.exited(name, generation, status)) }
        } else {
            let fd = warden_pidfd_open(pid)
            if fd >= 0 {
                s.pidfd = fd
                s.pidfdToken = IOWatcher.shared.add(fd: fd, once: true) { _ in
                    input.yield(.exited(name, generation, .unknown))
                }
            }
        }
        findCgroup(s, pid: pid)
        s.machine.adopted(now: clock.now())
        setState(s)
        logger.info("adopted running service", metadata: ["warden.service": "\(s.name)", "warden.pid": "\(pid)"])
        publish(ServiceAdopted(pid: Int64(pid), instance: instance), s)
        startProbes(s)
    }

    /// A recorded service died while no Warden was watching: report it, clean up what it left, and
    /// apply its restart policy as for any failure.
    func diedWhileAway(_ s: ManagedService, record: RuntimeRecord) {
        if ProcFS.groupExists(record.pgid) { _ = kill(-record.pgid, SIGKILL) }
        cgroupTree?.service(s.name).kill()
        records.remove(s.name)
        s.wanted = true
        s.lastExit = .unknown
        publish(ServiceExited(pid: Int64(record.pid), status: .unknown, expected: false, whileDown: true), s)
        s.machine.adopted(now: clock.now())
        let actions = s.machine.exited(.unknown, now: clock.now())
        setState(s)
        perform(actions, for: s)
    }

    func readyWaitersDrain() -> [CheckedContinuation<Void, Never>] {
        drainReadyWaiters()
    }
}
