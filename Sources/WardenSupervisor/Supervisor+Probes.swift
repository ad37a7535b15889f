import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Starts the probe loop that fits the service's state: the readiness probe while starting,
    /// the health probe once running. Replaces any previous loop.
    func startProbes(_ s: ManagedService) {
        s.probeTask?.cancel()
        s.probeTask = nil
        let kind: ProbeKind
        let probe: ProbeSpec
        switch s.machine.state {
        case .starting:
            guard case .probe(let p)? = s.spec.ready?.kind else { return }
            kind = .ready
            probe = p
        case .running:
            guard let p = s.spec.health else { return }
            kind = .health
            probe = p
        default:
            return
        }
        let name = s.name
        let generation = s.generation
        let input = self.input
        let clock = self.clock
        let context = Probe.ExecContext(
            environment: environment(for: s, identity: identity(for: s.spec)),
            cwd: s.spec.cwd,
            identity: identity(for: s.spec),
            transport: options.transport
        )
        let check = probe.resolvedCheck(outputs[s.name] ?? [:])
        s.probeTask = Task {
            // Readiness is checked at once and then every `every`; health waits one interval first.
            if kind == .health { try? await clock.sleep(for: probe.every) }
            while !Task.isCancelled {
                let started = clock.now()
                let result: ProbeResult
                if let check {
                    result = await Probe.run(check, timeout: probe.timeout, exec: context)
                } else {
                    result = ProbeResult(
                        ok: false,
                        detail: "the target \(probe.target) refers to rebuild outputs that do not exist yet",
                        latency: .zero
                    )
                }
                if Task.isCancelled { return }
                input.yield(.probe(name, generation, kind, result))
                if kind == .ready && result.ok { return }
                let elapsed = clock.now() - started
                try? await clock.sleep(for: max(.milliseconds(1), probe.every - elapsed))
            }
        }
    }

    func handleProbe(name: String, generation: UInt64, kind: ProbeKind, result: ProbeResult) {
        guard let s = services[name], s.generation == generation else { return }
        let now = clock.now()
        // Every probe's outcome and latency are telemetry (what SLOs are computed from).
        let labels = ["service": name, "probe": kind == .ready ? "ready" : "health"]
        let wall = clock.wallTime()
        samples.send(contentsOf: [
            Sample(series: "probe.up", labels: labels, time: wall, value: result.ok ? 1 : 0),
            Sample(series: "probe.latency_seconds", labels: labels, time: wall, value: result.latency.seconds),
        ])
        switch kind {
        case .ready:
            guard result.ok, s.machine.ready(now: now) else { return }
            becameReady(s)
        case .health:
            guard case .running = s.machine.state, var tracker = s.health, let probe = s.spec.health else { return }
            // Failures in the start grace do not count; by default the grace is how long the
            // service may take to pass once, and it ends when it does.
            let inGrace =
                s.spawnedAt.map { now - $0 < probe.grace } ?? false && !(probe.graceEndsOnPass && tracker.hasPassed)
            let transition = tracker.record(ok: result.ok, inGrace: inGrace)
            s.health = tracker
            switch transition {
            case .none:
                break
            case .recovered:
                let recovered = ProbeResultEvent(probe: "health", detail: result.detail)
                bus.publish(EventType.probeRecovered, source: "supervisor", subject: s.name, payload: recovered.json)
            case .failed:
                let failed = ProbeResultEvent(
                    probe: "health",
                    target: probe.target,
                    detail: result.detail,
                    consecutive: tracker.consecutiveFailures
                )
                bus.publish(failed, source: "supervisor", subject: s.name)
                perform(s.machine.unhealthy("health check failed: \(result.detail)", now: now), for: s)
            }
        }
    }

    func handleNotify(name: String, pid: pid_t, message: NotifyMessage) {
        guard let s = services[name], s.machine.hasProcess else { return }
        // Only the service's own processes may speak for it.
        if pid > 0, pid != s.pid {
            guard let st = ProcFS.stat(pid), st.pgrp == s.pgid || st.session == s.pgid else { return }
        }
        let now = clock.now()
        if let text = message.status, text != s.statusText {
            s.statusText = text
            publish(ServiceStatusChanged(status: text), s)
            saveRecord(s, ready: isReady(s))
        }
        if let extra = message.extendTimeout { s.machine.extendTimeout(by: extra, now: now) }
        if let newMain = message.mainPID, newMain != s.pid, let st = ProcFS.stat(newMain),
            st.pgrp == s.pgid || st.session == s.pgid
        {
            follow(daemon: st, of: s)
        }
        if message.watchdog { s.machine.watchdogPing(now: now) }
        if message.ready, s.machine.ready(now: now) { becameReady(s) }
        if message.watchdogTrigger {
            publish(WatchdogMissed(pid: s.pid.map(Int64.init), trigger: true), s)
            perform(s.machine.unhealthy("the service triggered its watchdog", now: now), for: s)
        }
    }
}
