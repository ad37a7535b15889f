import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Carries out what a state machine decided.
    func perform(_ actions: [ServiceStateMachine.Action], for s: ManagedService) {
        for action in actions {
            switch action {
            case .spawn:
                spawn(s)
            case .signal(let sig):
                if let pgid = s.pgid {
                    signalGroup(pgid, sig, s)
                    // A stopped (SIGSTOP, a debugger) process would hold the signal pending until the
                    // stop timeout's SIGKILL: wake it so it can act on it now, as systemd does.
                    if sig != SIGKILL && sig != SIGCONT { signalGroup(pgid, SIGCONT, s) }
                }
                setState(s)
                publish(ServiceStopping(signal: Signals.name(sig), pid: s.pid.map(Int64.init)), s)
            case .kill:
                if let pgid = s.pgid { signalGroup(pgid, SIGKILL, s) }
                s.cgroup?.kill()
            case .restartScheduled(let delay, let attempt, let reason):
                s.restartsMetric.increment()
                setState(s)
                publish(ServiceRestarting(delayMs: delay.milliseconds, attempt: attempt, reason: reason), s)
            case .gaveUp(let failures, let window, let reason):
                setState(s)
                logger.error("service failed", metadata: ["warden.service": "\(s.name)", "warden.reason": "\(reason)"])
                publish(ServiceFailed(failures: failures, window: DurationFormat.format(window), reason: reason), s)
            case .readyTimedOut:
                let within = DurationFormat.format(s.spec.ready?.within ?? .zero)
                bus.publish(
                    ProbeResultEvent(probe: "ready", detail: "not ready within \(within)"),
                    source: "supervisor",
                    subject: s.name
                )
            case .watchdogMissed:
                publish(WatchdogMissed(pid: s.pid.map(Int64.init), intervalMs: s.spec.watchdog?.milliseconds ?? 0), s)
            case .stopTimedOut:
                let reason = "did not stop within \(DurationFormat.format(s.spec.stop.timeout))"
                publish(ServiceKilled(reason: reason, pid: s.pid.map(Int64.init)), s)
            }
        }
    }

    func setState(_ s: ManagedService) { s.stateSince = clock.wallTime() }

    func signalGroup(_ pgid: pid_t, _ sig: Int32, _ s: ManagedService) {
        // The main process may have moved to a group of its own since it was recorded (a daemon
        // calling setsid): signal its current group as well.
        if let pid = s.pid, let current = ProcFS.stat(pid)?.pgrp, current != pgid, current > 1 {
            s.pgid = current
            _ = kill(-current, sig)
        }
        if kill(-pgid, sig) != 0, errno == ESRCH, let pid = s.pid {
            // Not a group leader any more (or never was): signal the process itself.
            _ = kill(pid, sig)
        }
    }

    /// Kills every process still carrying this instance's `WARDEN_INSTANCE` tag, wherever it went
    /// (another session, another group): nothing of a stopped service may outlive it.
    func killTagged(_ s: ManagedService) {
        guard !s.instance.isEmpty else { return }
        let me = getpid()
        for pid in ProcFS.allPids() where pid != me {
            guard let env = ProcFS.environment(pid), env["WARDEN_INSTANCE"] == s.instance else { continue }
            _ = kill(pid, SIGKILL)
        }
    }

    /// The environment of a service's processes.
    func environment(for s: ManagedService, identity: Accounts.Identity?) -> [String: String] {
        var env = options.baseEnvironment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "INVOCATION_ID"] {
            env.removeValue(forKey: key)
        }
        if let identity, let name = identity.userName {
            env["USER"] = name
            env["LOGNAME"] = name
            if let home = identity.home { env["HOME"] = home }
        }
        let outputs = self.outputs[s.name] ?? [:]
        for (k, v) in s.spec.env { env[k] = OutputTemplate.resolve(v, outputs) }
        for (k, reference) in s.spec.secretEnv {
            if let secret = secretValues[reference] { env[k] = String(decoding: secret.bytes, as: UTF8.self) }
        }
        if let notify = s.notify { env["NOTIFY_SOCKET"] = notify.path }
        if let watchdog = s.spec.watchdog { env["WATCHDOG_USEC"] = String(watchdog.nanoseconds / 1000) }
        env["WARDEN_SERVICE"] = s.name
        env["WARDEN_STATE_DIR"] = spec.stateDir
        env["WARDEN_INSTANCE"] = s.instance
        return env
    }

    func identity(for spec: ServiceSpec) -> Accounts.Identity? {
        guard spec.user != nil || spec.group != nil else { return nil }
        return Accounts.identity(user: spec.user, group: spec.group)
    }

    func ensureNotifySocket(_ s: ManagedService) {
        guard s.notify == nil else { return }
        let path = (runDirectory as NSString).appendingPathComponent("\(s.name).notify")
        let name = s.name
        let input = self.input
        do {
            s.notify = try NotifySocket(path: path, owner: identity(for: s.spec)) { message, pid in
                input.yield(.notify(name, pid, message))
            }
        } catch {
            logger.warning(
                "cannot create notify socket",
                metadata: ["warden.service": "\(s.name)", "warden.error": "\(error)"]
            )
        }
    }

    func spawn(_ s: ManagedService) {
        let now = clock.now()
        s.clearProcess()
        s.generation += 1
        s.instance = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        s.statusText = nil
        s.health = s.spec.health.map { ProbeTracker(failures: $0.failures, successes: $0.successes) }
        ensureNotifySocket(s)
        s.log.rotateIfNeeded()

        let identity = identity(for: s.spec)
        if (s.spec.user != nil || s.spec.group != nil) && identity == nil {
            spawnFailed(s, reason: "user or group no longer exists", now: now)
            return
        }
        let outputs = self.outputs[s.name] ?? [:]
        var executable = s.spec.executable
        if executable.contains("${") {
            let resolved = OutputTemplate.resolve(executable, outputs)
            switch Executables.resolve(
                resolved,
                cwd: s.spec.cwd,
                path: s.spec.env["PATH"] ?? options.baseEnvironment["PATH"]
            ) {
            case .success(let path): executable = path
            case .failure(let e):
                spawnFailed(s, reason: e.message, now: now)
                return
            }
        }
        var request = SpawnRequest(
            executable: executable,
            arguments: s.spec.run.map { OutputTemplate.resolve($0, outputs) },
            environment: environment(for: s, identity: identity),
            cwd: s.spec.cwd,
            identity: identity
        )
        let logFD: Int32
        do {
            logFD = try s.log.openForChild()
        } catch {
            spawnFailed(s, reason: "cannot open log file: \(error)", now: now)
            return
        }
        defer { close(logFD) }
        request.stdout = logFD
        request.stderr = logFD
        request.cgroupFiles = joinCgroup(s)
        defer { for fd in request.cgroupFiles { close(fd) } }

        let name = s.name
        let generation = s.generation
        let input = self.input
        let pid: pid_t
        do {
            pid = try Spawner.spawn(request) { status in input.yield(.exited(name, generation, status)) }
        } catch {
            spawnFailed(s, reason: error.description, now: now)
            return
        }
        s.pid = pid
        s.pgid = pid
        s.spawnedAt = now
        s.startedAt = clock.wallTime()
        s.startTime = ProcFS.stat(pid)?.startTime ?? 0
        saveRecord(s, ready: false)
        s.machine.spawned(now: now)
        setState(s)
        logger.info("service started", metadata: ["warden.service": "\(s.name)", "warden.pid": "\(pid)"])
        publish(ServiceStarted(pid: Int64(pid), instance: s.instance, restarts: s.machine.restarts), s)
        if isReady(s) {
            becameReady(s)
        } else {
            startProbes(s)
        }
    }

    func spawnFailed(_ s: ManagedService, reason: String, now: Instant) {
        logger.error(
            "service could not be started",
            metadata: ["warden.service": "\(s.name)", "warden.reason": "\(reason)"]
        )
        publish(ServiceSpawnFailed(reason: reason), s)
        // Nothing runs in the cgroup made for it (the child that failed to exec exits at once).
        s.cgroup?.remove()
        perform(s.machine.spawnFailed(now: now, reason: reason), for: s)
    }

    /// The service passed its readiness check (or has none): record it and start what waited.
    func becameReady(_ s: ManagedService) {
        setState(s)
        saveRecord(s, ready: true)
        publish(ServiceReady(pid: s.pid.map(Int64.init)), s)
        startProbes(s)
        startDependents(of: s)
    }

    func saveRecord(_ s: ManagedService, ready: Bool) {
        guard let pid = s.pid, let pgid = s.pgid else { return }
        records.save(
            RuntimeRecord(
                service: s.name,
                pid: pid,
                pgid: pgid,
                startTime: s.startTime,
                instance: s.instance,
                specDigest: Self.digest(s.spec),
                startedAt: s.startedAt ?? s.stateSince,
                ready: ready,
                status: s.statusText
            )
        )
    }

    /// A stable digest of everything in a service spec that affects how it runs.
    static func digest(_ spec: ServiceSpec) -> String {
        var text =
            "\(spec.run)|\(spec.executable)|\(spec.env.sorted { $0.key < $1.key })|\(spec.cwd)|\(spec.user ?? "")|"
        text += "\(spec.group ?? "")|\(spec.watchdog.map { "\($0.nanoseconds)" } ?? "")"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
