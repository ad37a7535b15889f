import Foundation
import Testing
import WardenCore
import WardenSupervisor

/// The restart logic, driven by made-up instants: no processes, no sleeping.
@Suite("Service state machine")
struct ServiceStateMachineTests {
    typealias Machine = ServiceStateMachine
    let t0 = Instant(nanoseconds: 1_000_000_000_000)

    func machine(
        policy: RestartSpec.Policy = .always,
        backoff: ClosedRange<Int> = 100...30_000,
        jitter: Double = 0,
        reset: Duration = .seconds(60),
        giveUp: GiveUp? = GiveUp(count: 5, window: .seconds(60)),
        readyWithin: Duration? = nil,
        watchdog: Duration? = nil,
        seed: UInt64 = 42
    ) -> Machine {
        Machine(
            configuration: .init(
                restart: RestartSpec(
                    policy: policy,
                    backoffMin: .milliseconds(backoff.lowerBound),
                    backoffMax: .milliseconds(backoff.upperBound),
                    jitter: jitter,
                    resetAfter: reset,
                    giveUp: giveUp
                ),
                stopSignal: 15,
                stopTimeout: .seconds(5),
                readyWithin: readyWithin,
                watchdog: watchdog
            ),
            seed: seed
        )
    }

    /// Starts the machine and reports the spawn as done.
    func started(_ m: inout Machine, at t: Instant) {
        #expect(m.start(now: t) == [.spawn])
        m.spawned(now: t)
    }

    @Test func backoffDoublesFromTheFloorToTheCeiling() {
        var m = machine(backoff: 100...1000, giveUp: nil)
        var t = t0
        started(&m, at: t)
        var delays: [Duration] = []
        for _ in 0..<6 {
            t = t + .milliseconds(10)
            let actions = m.exited(.exited(1), now: t)
            guard case .restartScheduled(let delay, _, _) = actions.first else {
                Issue.record("expected a scheduled restart, got \(actions)")
                return
            }
            delays.append(delay)
            #expect(m.state == .backoff(until: t + delay))
            #expect(m.deadline == t + delay)
            #expect(m.tick(now: t + delay - .milliseconds(1)) == [])
            t = t + delay
            #expect(m.tick(now: t) == [.spawn])
            m.spawned(now: t)
        }
        #expect(delays == [100, 200, 400, 800, 1000, 1000].map { Duration.milliseconds($0) })
        #expect(m.restarts == 6)
    }

    @Test func jitterStaysWithinItsBoundsAndVaries() {
        var seen = Set<Int64>()
        for seed in 0..<500 {
            var m = machine(backoff: 1000...60_000, jitter: 0.2, giveUp: nil, seed: UInt64(seed))
            started(&m, at: t0)
            guard case .restartScheduled(let delay, _, _) = m.exited(.exited(1), now: t0).first else {
                Issue.record("no restart scheduled")
                return
            }
            #expect(delay >= .milliseconds(800) && delay <= .milliseconds(1200))
            seen.insert(delay.milliseconds)
        }
        #expect(seen.count > 100, "jitter should spread delays, got \(seen.count) distinct values")
        #expect(seen.contains { $0 < 900 } && seen.contains { $0 > 1100 })
    }

    @Test func jitterNeverExceedsTheCeiling() {
        for seed in 0..<200 {
            var m = machine(backoff: 1000...1000, jitter: 0.5, giveUp: nil, seed: UInt64(seed))
            started(&m, at: t0)
            let actions = m.exited(.exited(1), now: t0)
            guard case .restartScheduled(let delay, _, _) = actions.first else {
                Issue.record("expected a scheduled restart, got \(actions)")
                return
            }
            #expect(delay <= .seconds(1) && delay >= .milliseconds(500))
        }
    }

    @Test func aZeroFloorRestartsAtOnce() {
        var m = machine(backoff: 0...0, giveUp: nil)
        started(&m, at: t0)
        let actions = m.exited(.signaled(9, coreDumped: false), now: t0 + .seconds(1))
        #expect(actions == [.restartScheduled(delay: .zero, attempt: 1, reason: "killed by SIGKILL"), .spawn])
        #expect(m.state == .starting(since: t0 + .seconds(1)))
    }

    /// `0ms..2s` used to stay at 0 for ever (0 doubled is 0): ten failed starts in 360 ms.
    @Test func aZeroFloorRestartsAtOnceThenBacksOff() {
        var m = machine(backoff: 0...2000, giveUp: nil)
        var t = t0
        started(&m, at: t)
        var delays: [Duration] = []
        for _ in 0..<7 {
            let actions = m.exited(.exited(1), now: t)
            guard case .restartScheduled(let d, _, _) = actions.first else {
                Issue.record("expected a scheduled restart, got \(actions)")
                return
            }
            delays.append(d)
            t = t + d
            _ = m.tick(now: t)
            m.spawned(now: t)
        }
        #expect(delays == [0, 100, 200, 400, 800, 1600, 2000].map { .milliseconds($0) })
        // A ceiling below the step: at once, then the ceiling.
        #expect(machine(backoff: 0...50).baseDelay(attempt: 1) == .zero)
        #expect(machine(backoff: 0...50).baseDelay(attempt: 2) == .milliseconds(50))
        #expect(machine(backoff: 0...0).baseDelay(attempt: 9) == .zero)
    }

    @Test func aStableRunResetsTheBackoff() {
        var m = machine(backoff: 100...30_000, reset: .seconds(60), giveUp: nil)
        var t = t0
        started(&m, at: t)
        for _ in 0..<3 {
            let actions = m.exited(.exited(1), now: t)
            guard case .restartScheduled(let d, _, _) = actions.first else {
                Issue.record("expected a scheduled restart, got \(actions)")
                return
            }
            t = t + d
            _ = m.tick(now: t)
            m.spawned(now: t)
        }
        #expect(m.consecutiveFailures == 3)
        // This run lasts longer than the reset period: the next failure starts over at the floor.
        t = t + .seconds(61)
        let actions = m.exited(.exited(1), now: t)
        #expect(actions == [.restartScheduled(delay: .milliseconds(100), attempt: 1, reason: "exit code 1")])
        #expect(m.consecutiveFailures == 1)
    }

    @Test func givesUpAfterNFailuresInTheWindow() {
        var m = machine(backoff: 100...100, giveUp: GiveUp(count: 3, window: .seconds(10)))
        var t = t0
        started(&m, at: t)
        for attempt in 1...2 {
            t = t + .milliseconds(500)
            #expect(
                m.exited(.exited(2), now: t) == [
                    .restartScheduled(delay: .milliseconds(100), attempt: attempt, reason: "exit code 2")
                ]
            )
            t = t + .milliseconds(100)
            #expect(m.tick(now: t) == [.spawn])
            m.spawned(now: t)
        }
        t = t + .milliseconds(500)
        #expect(m.exited(.exited(2), now: t) == [.gaveUp(failures: 3, window: .seconds(10), reason: "exit code 2")])
        #expect(m.state == .failed)
        #expect(m.deadline == nil)
        // Time passing does not revive it...
        #expect(m.tick(now: t + .seconds(3600)) == [])
        // ...but a person can, and the history starts over.
        #expect(m.start(now: t + .seconds(3600)) == [.spawn])
        #expect(m.recentFailures.isEmpty)
    }

    @Test func failuresOutsideTheWindowDoNotCountTowardGivingUp() {
        var m = machine(backoff: 100...100, reset: .seconds(3600), giveUp: GiveUp(count: 3, window: .seconds(10)))
        var t = t0
        started(&m, at: t)
        for _ in 0..<10 {
            // One failure every 6 s: never 3 within 10 s.
            t = t + .seconds(6)
            let actions = m.exited(.exited(1), now: t)
            #expect(actions.count == 1)
            guard case .restartScheduled = actions[0] else {
                Issue.record("gave up although failures were spread out: \(actions)")
                return
            }
            t = t + .milliseconds(100)
            _ = m.tick(now: t)
            m.spawned(now: t)
        }
    }

    @Test func policies() {
        var always = machine(policy: .always)
        started(&always, at: t0)
        #expect(
            always.exited(.exited(0), now: t0 + .seconds(1)).first.map {
                if case .restartScheduled = $0 { true } else { false }
            } == true
        )

        var onFailure = machine(policy: .onFailure)
        started(&onFailure, at: t0)
        #expect(onFailure.exited(.exited(0), now: t0 + .seconds(1)) == [])
        #expect(onFailure.state == .idle)
        started(&onFailure, at: t0 + .seconds(2))
        #expect(onFailure.exited(.signaled(11, coreDumped: true), now: t0 + .seconds(3)).count == 1)
        #expect(onFailure.state != .idle)

        var never = machine(policy: .never)
        started(&never, at: t0)
        #expect(never.exited(.exited(0), now: t0 + .seconds(1)) == [])
        #expect(never.state == .idle)
    }

    @Test func aStopEscalatesToKillAfterTheTimeout() {
        var m = machine()
        started(&m, at: t0)
        let t = t0 + .seconds(1)
        #expect(m.stop(now: t) == [.signal(15)])
        #expect(m.deadline == t + .seconds(5))
        #expect(m.tick(now: t + .seconds(4)) == [])
        #expect(m.tick(now: t + .seconds(5)) == [.stopTimedOut, .kill])
        #expect(m.deadline == nil)
        // The exit after a requested stop is not a failure.
        #expect(m.exited(.signaled(9, coreDumped: false), now: t + .seconds(5)) == [])
        #expect(m.state == .idle)
        #expect(m.recentFailures.isEmpty)
    }

    @Test func aManualRestartStopsThenStartsWithoutBackoff() {
        var m = machine()
        started(&m, at: t0)
        #expect(m.restart(now: t0 + .seconds(1)) == [.signal(15)])
        #expect(m.exited(.exited(0), now: t0 + .seconds(2)) == [.spawn])
        #expect(m.restarts == 0, "manual restarts are not counted as automatic ones")
    }

    @Test func readinessMustComeInTime() {
        var m = machine(readyWithin: .seconds(3))
        started(&m, at: t0)
        #expect(m.state == .starting(since: t0))
        #expect(m.deadline == t0 + .seconds(3))
        let actions = m.tick(now: t0 + .seconds(3))
        #expect(actions == [.readyTimedOut, .signal(15)])
        // The exit that follows counts as a failure and schedules a restart.
        guard case .restartScheduled(_, _, let reason) = m.exited(.exited(143), now: t0 + .seconds(4)).first else {
            Issue.record("no restart after a readiness timeout")
            return
        }
        #expect(reason == "not ready within 3s")
    }

    @Test func readyArmsTheWatchdogAndPingsPushItBack() {
        var m = machine(readyWithin: .seconds(10), watchdog: .seconds(2))
        started(&m, at: t0)
        let first = m.ready(now: t0 + .seconds(1))
        let second = m.ready(now: t0 + .seconds(1))
        #expect(first)
        #expect(!second, "a second READY=1 changes nothing")
        #expect(m.deadline == t0 + .seconds(3))
        m.watchdogPing(now: t0 + .milliseconds(2500))
        #expect(m.deadline == t0 + .milliseconds(4500))
        #expect(m.tick(now: t0 + .seconds(4)) == [])
        #expect(m.tick(now: t0 + .milliseconds(4500)) == [.watchdogMissed, .signal(15)])
        if case .stopping(_, .unhealthy(let why), false) = m.state {
            #expect(why == "no watchdog ping for 2s")
        } else {
            Issue.record("expected stopping for an unhealthy reason, got \(m.state)")
        }
    }

    @Test func anUnhealthyServiceIsRestartedEvenWithOnFailure() {
        var m = machine(policy: .onFailure)
        started(&m, at: t0)
        #expect(m.unhealthy("health check failed: HTTP 500", now: t0 + .seconds(1)) == [.signal(15)])
        // It exits cleanly on SIGTERM, but the stop was Warden's reaction to a failure.
        guard case .restartScheduled(_, _, let reason) = m.exited(.exited(0), now: t0 + .seconds(2)).first else {
            Issue.record("no restart")
            return
        }
        #expect(reason == "health check failed: HTTP 500")
    }

    @Test func aFailedSpawnIsAFailure() {
        var m = machine(backoff: 100...100, giveUp: GiveUp(count: 2, window: .seconds(10)))
        #expect(m.start(now: t0) == [.spawn])
        #expect(
            m.spawnFailed(now: t0, reason: "exec failed") == [
                .restartScheduled(delay: .milliseconds(100), attempt: 1, reason: "exec failed")
            ]
        )
        #expect(m.tick(now: t0 + .milliseconds(100)) == [.spawn])
        #expect(
            m.spawnFailed(now: t0 + .milliseconds(100), reason: "exec failed") == [
                .gaveUp(failures: 2, window: .seconds(10), reason: "exec failed")
            ]
        )
    }

    @Test func stopDuringBackoffCancelsTheRestart() {
        var m = machine()
        started(&m, at: t0)
        _ = m.exited(.exited(1), now: t0 + .seconds(1))
        #expect(m.deadline != nil)
        #expect(m.stop(now: t0 + .seconds(1)) == [])
        #expect(m.state == .idle)
        #expect(m.deadline == nil)
    }

    // MARK: - Cases the mutation pass found untested

    @Test func theDefaultStopSignalIsSIGTERM() {
        #expect(Machine.Configuration().stopSignal == SIGTERM)
        var m = Machine(configuration: .init(), seed: 1)
        started(&m, at: t0)
        _ = m.ready(now: t0)
        #expect(m.stop(now: t0) == [.signal(SIGTERM)])
    }

    @Test func onlyStartingRunningAndStoppingHaveAProcess() {
        var m = machine(policy: .never, giveUp: nil)
        #expect(!m.hasProcess, "idle")
        started(&m, at: t0)
        #expect(m.hasProcess, "starting or running")
        _ = m.unhealthy("probe failed", now: t0)
        #expect(m.hasProcess, "stopping")
        _ = m.exited(.signaled(15, coreDumped: false), now: t0)
        #expect(m.state == .failed)
        #expect(!m.hasProcess, "failed")
        var b = machine(backoff: 1000...1000, giveUp: nil)
        started(&b, at: t0)
        _ = b.exited(.exited(1), now: t0)
        #expect(b.state == .backoff(until: t0 + .seconds(1)))
        #expect(!b.hasProcess, "backoff")
    }

    /// A restart request stops the service with its signal, and escalates to SIGKILL when the
    /// stop timeout passes.
    @Test func aRequestedRestartEscalatesToKillAfterTheStopTimeout() {
        var m = machine()
        started(&m, at: t0)
        #expect(m.restart(now: t0) == [.signal(15)])
        #expect(m.tick(now: t0 + .seconds(4)) == [])
        #expect(m.tick(now: t0 + .seconds(5)) == [.stopTimedOut, .kill])
        #expect(m.tick(now: t0 + .seconds(9)) == [], "killed once")
    }

    /// Without a readiness deadline or a watchdog, time alone never fails a service.
    @Test func noDeadlineNoTimeout() {
        var starting = machine(readyWithin: nil)
        #expect(starting.start(now: t0) == [.spawn])
        // Between asking for the spawn and hearing it happened, there is no deadline yet.
        #expect(starting.tick(now: t0 + .seconds(86400)) == [])
        var slow = machine(readyWithin: .seconds(5))
        _ = slow.start(now: t0)
        #expect(slow.tick(now: t0 + .seconds(86400)) == [], "the ready deadline starts at the spawn")
        slow.spawned(now: t0 + .seconds(86400))
        #expect(slow.tick(now: t0 + .seconds(86404)) == [])
        #expect(slow.tick(now: t0 + .seconds(86405)).first == .readyTimedOut)
        starting.spawned(now: t0)
        #expect(starting.tick(now: t0 + .seconds(86400)) == [])
        var running = machine(watchdog: nil)
        started(&running, at: t0)
        _ = running.ready(now: t0)
        #expect(running.tick(now: t0 + .seconds(86400)) == [])
        #expect(running.deadline == nil)
    }

    /// With `restart: never`, an exit just leaves the service stopped; a failed check makes it
    /// failed at the first failure, and says so.
    @Test func policyNeverGivesUpAfterOneFailureAndSaysSo() {
        var m = machine(policy: .never, giveUp: nil)
        started(&m, at: t0)
        #expect(m.exited(.exited(2), now: t0 + .seconds(1)) == [])
        #expect(m.state == .idle)
        started(&m, at: t0 + .seconds(2))
        #expect(m.unhealthy("probe failed", now: t0 + .seconds(3)) == [.signal(15)])
        let actions = m.exited(.signaled(15, coreDumped: false), now: t0 + .seconds(4))
        #expect(actions == [.gaveUp(failures: 1, window: .zero, reason: "probe failed")])
    }

    @Test func anImmediateRestartCountsOnce() {
        var m = machine(backoff: 0...0, giveUp: nil)
        started(&m, at: t0)
        _ = m.exited(.exited(1), now: t0 + .seconds(1))
        #expect(m.restarts == 1)
        m.spawned(now: t0 + .seconds(1))
        _ = m.exited(.exited(1), now: t0 + .seconds(2))
        #expect(m.restarts == 2)
    }
}

@Suite("Probe thresholds")
struct ProbeTrackerTests {
    @Test func failsAfterNConsecutiveFailuresAndRecoversAfterMSuccesses() {
        var p = ProbeTracker(failures: 3, successes: 2)
        #expect(p.record(ok: false) == .none)
        #expect(p.record(ok: false) == .none)
        #expect(p.record(ok: true) == .none, "a success in between resets the count")
        #expect(p.record(ok: false) == .none)
        #expect(p.record(ok: false) == .none)
        #expect(p.record(ok: false) == .failed)
        #expect(!p.passing)
        #expect(p.record(ok: false) == .none, "failing is reported once")
        #expect(p.record(ok: true) == .none)
        #expect(p.record(ok: true) == .recovered)
        #expect(p.passing)
    }

    @Test func failuresInTheGracePeriodDoNotCount() {
        var p = ProbeTracker(failures: 1, successes: 1)
        #expect(p.record(ok: false, inGrace: true) == .none)
        #expect(p.passing)
        #expect(p.record(ok: false) == .failed)
    }
}

@Suite("Notify protocol and /proc parsing")
struct NotifyAndProcTests {
    @Test func parsesNotifyMessages() {
        let m = NotifyMessage(
            "READY=1\nSTATUS=Processing requests: 42\nWATCHDOG=1\nMAINPID=1234\nEXTEND_TIMEOUT_USEC=5000000\n"
        )
        #expect(m.ready)
        #expect(m.watchdog)
        #expect(m.status == "Processing requests: 42")
        #expect(m.mainPID == 1234)
        #expect(m.extendTimeout == .seconds(5))
        #expect(NotifyMessage("WATCHDOG=trigger").watchdogTrigger)
        #expect(!NotifyMessage("READY=0").ready)
    }

    @Test func parsesProcStatWithAwkwardCommandNames() throws {
        let line =
            "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 1 0 987654 1000000 321 18446744073709551615"
        let st = try #require(ProcFS.parseStat(line))
        #expect(st.pid == 4242)
        #expect(st.command == "my (odd) name")
        #expect(st.state == "S")
        #expect(st.ppid == 1)
        #expect(st.pgrp == 4242)
        #expect(st.utime == 25)
        #expect(st.stime == 7)
        #expect(st.startTime == 987654)
        #expect(st.rssPages == 321)
    }

    @Test func readsItsOwnProcessEntry() throws {
        let st = try #require(ProcFS.stat(getpid()))
        #expect(st.pid == getpid())
        #expect(st.startTime > 0)
        #expect(ProcFS.isAlive(pid: getpid(), startTime: st.startTime))
        #expect(
            !ProcFS.isAlive(pid: getpid(), startTime: st.startTime + 1),
            "a different start time is a different process"
        )
    }

}
