import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

/// The durable job queue and workflow runs, unchanged on SQLite and PostgreSQL: priorities,
/// idempotency keys, leases that run out and fence off their old holder, retries, the dead
/// letter, concurrent workers, and enqueueing in the same transaction as the intake's events.
@Suite("Job queue conformance", .timeLimit(.minutes(2)))
struct JobQueueConformanceTests {
    func draft(_ n: Int, priority: Int = 0, key: String? = nil, max: Int = 3, queue: String = "q") -> JobDraft {
        JobDraft(
            queue: queue,
            kind: "test",
            payload: ["n": .int(Int64(n))],
            priority: priority,
            key: key,
            maxAttempts: max
        )
    }

    /// A moment after everything enqueued so far may run.
    var now: Date { Date().addingTimeInterval(1) }

    @Test(arguments: Backend.allCases)
    func jobsAreClaimedByPriorityThenAgeAndCompletedWithTheirResult(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let ids = try await store.enqueue([draft(1), draft(2, priority: 5), draft(3)], recording: []).map(\.id)
            let t = now
            var order: [Int64] = []
            while let job = try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t) {
                #expect(job.state == .leased && job.attempts == 1 && job.leaseOwner == "w")
                order.append(job.id)
                #expect(try await store.complete(job.lease, result: ["ok": .int(job.id)], now: t))
            }
            #expect(order == [ids[1], ids[0], ids[2]])
            let done = try #require(try await store.job(id: ids[1]))
            #expect(done.state == .done && done.result == ["ok": .int(ids[1])] && done.payload == ["n": 2])
            #expect(try await store.claim(queues: ["other"], owner: "w", lease: .seconds(30), now: t) == nil)
            #expect(try await store.jobs(states: [.done], queue: "q", limit: 10).count == 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func aKeyAlreadyInItsQueueAddsNothing(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let first = try await store.enqueue([draft(1, key: "delivery-7")], recording: [])
            let again = try await store.enqueue(
                [draft(2, key: "delivery-7"), draft(3, key: "delivery-8")],
                recording: []
            )
            #expect(first[0].added && !again[0].added && again[1].added)
            #expect(again[0].id == first[0].id)
            // Finished jobs keep their key: a redelivery after the run still runs nothing.
            let job = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: now))
            #expect(try await store.complete(job.lease, result: [:], now: now))
            #expect(try await store.enqueue([draft(4, key: "delivery-7")], recording: [])[0].added == false)
            // Keys are per queue.
            #expect(try await store.enqueue([draft(5, key: "delivery-7", queue: "other")], recording: [])[0].added)
            #expect(try await store.jobs(states: nil, queue: "q", limit: 10).count == 2)
        }
    }

    @Test(arguments: Backend.allCases)
    func theIntakesEventsAreCommittedWithTheJobs(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let event = testEvent(41, "hook.alertmanager", "api", at: 1)
            _ = try await store.enqueue([draft(1)], recording: [event])
            #expect(try await store.events(matching: EventQuery()) == [event])
            // The recorder writing the same event again later changes nothing.
            try await store.append([event])
            #expect(try await store.events(matching: EventQuery()).count == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func anEnqueueLeasesTheJobsItAddsThatAreReadyToItsOwnersAndQueuesTheRest(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let old = try await store.enqueue([draft(0, key: "seen")], recording: [])[0].id
            var later = draft(2)
            later.notBefore = Date().addingTimeInterval(3600)
            let event = testEvent(7, "hook.github", "api", at: 1)
            let (enqueued, leased) = try await store.enqueue(
                [draft(1), draft(9, key: "seen"), later, draft(3), draft(4)],
                recording: [event],
                leasing: JobClaim(owners: ["h1", "h2"], lease: .seconds(30))
            )
            // The known key adds nothing, the one not ready yet is not leased, two owners take two.
            #expect(enqueued.map(\.added) == [true, false, true, true, true] && enqueued[1].id == old)
            #expect(leased.map(\.id) == [enqueued[0].id, enqueued[3].id])
            #expect(leased.map(\.leaseOwner) == ["h1", "h2"] && leased.allSatisfy { $0.attempts == 1 })
            #expect(leased.allSatisfy { $0.state == .leased && $0.payload["n"] != nil && $0.leaseUntil != nil })
            #expect(leased[0].payload == ["n": 1] && leased[0].leaseUntil! > Date().addingTimeInterval(20))
            #expect(try await store.events(matching: EventQuery()) == [event])
            // Stored as leased: no worker claims them while the lease holds, their holder finishes them.
            var claimed: [Int64] = []
            while let job = try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: Date()) {
                claimed.append(job.id)
                #expect(try await store.complete(job.lease, result: [:], now: Date()))
            }
            #expect(Set(claimed) == [old, enqueued[4].id])
            #expect(try await store.complete(leased[0].lease, result: ["by": "h1"], now: Date()))
            #expect(try await store.job(id: leased[0].id)?.state == .done)
            // A lease that runs out is claimed again, as any other.
            let retaken = try #require(
                try await store.claim(
                    queues: ["q"],
                    owner: "w",
                    lease: .seconds(30),
                    now: Date().addingTimeInterval(31)
                )
            )
            #expect(retaken.id == leased[1].id && retaken.attempts == 2)
            #expect(try await store.complete(leased[1].lease, result: [:], now: Date()) == false)
            // No owners: the plain enqueue.
            let plain = try await store.enqueue(
                [draft(5)],
                recording: [],
                leasing: JobClaim(owners: [], lease: .seconds(30))
            )
            #expect(plain.leased.isEmpty && plain.enqueued[0].added)
            #expect(try await store.job(id: plain.enqueued[0].id)?.state == .queued)
        }
    }

    @Test(arguments: Backend.allCases)
    func aLeaseThatRunsOutIsClaimedAgainAndItsOldHolderIsFencedOff(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            _ = try await store.enqueue([draft(1)], recording: [])
            let t = now
            let a = try #require(try await store.claim(queues: ["q"], owner: "a", lease: .seconds(10), now: t))
            #expect(try await store.claim(queues: ["q"], owner: "b", lease: .seconds(10), now: t + 5) == nil)
            #expect(try await store.renew(a.lease, until: t + 20))
            #expect(try await store.claim(queues: ["q"], owner: "b", lease: .seconds(10), now: t + 15) == nil)
            let b = try #require(try await store.claim(queues: ["q"], owner: "b", lease: .seconds(10), now: t + 21))
            #expect(b.id == a.id && b.attempts == 2 && b.leaseOwner == "b")
            #expect(try await store.complete(a.lease, result: ["from": "a"], now: t + 22) == false)
            #expect(try await store.renew(a.lease, until: t + 60) == false)
            #expect(try await store.fail(a.lease, error: "late", retryAt: nil, now: t + 22) == false)
            #expect(try await store.complete(b.lease, result: ["from": "b"], now: t + 22))
            #expect(try await store.job(id: a.id)?.result == ["from": "b"])
        }
    }

    @Test(arguments: Backend.allCases)
    func failuresRetryFromTheirTimeThenGoToTheDeadLetterWithTheReason(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let id = try await store.enqueue([draft(1, max: 2)], recording: [])[0].id
            let t = now
            let first = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t))
            #expect(try await store.fail(first.lease, error: "model timed out", retryAt: t + 30, now: t))
            let queued = try #require(try await store.job(id: id))
            #expect(queued.state == .queued && queued.error == "model timed out")
            #expect(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t + 10) == nil)
            let second = try #require(
                try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t + 31)
            )
            #expect(second.attempts == 2)
            #expect(try await store.fail(second.lease, error: "model timed out again", retryAt: t + 60, now: t + 31))
            let dead = try #require(try await store.job(id: id))
            #expect(dead.state == .dead && dead.error == "model timed out again" && dead.finished != nil)
            #expect(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t + 99) == nil)
            // A failure that cannot succeed goes straight to the dead letter.
            _ = try await store.enqueue([draft(2, max: 5)], recording: [])
            let hopeless = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t))
            #expect(try await store.fail(hopeless.lease, error: "no such workflow", retryAt: nil, now: t))
            #expect(try await store.jobs(states: [.dead], queue: nil, limit: 10).count == 2)
        }
    }

    @Test(arguments: Backend.allCases)
    func aJobWhoseLastLeaseRunsOutIsDead(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let id = try await store.enqueue([draft(1, max: 1)], recording: [])[0].id
            let t = now
            _ = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(5), now: t))
            #expect(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(5), now: t + 6) == nil)
            let dead = try #require(try await store.job(id: id))
            #expect(dead.state == .dead)
            #expect(dead.error?.contains("lease ran out on attempt 1 of 1") == true)
        }
    }

    @Test(arguments: Backend.allCases)
    func aRestartedWorkerTakesBackWhatItsPreviousLifeHeld(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            _ = try await store.enqueue([draft(1), draft(2)], recording: [])
            let t = now
            let mine = try #require(
                try await store.claim(queues: ["q"], owner: "node-a/41", lease: .seconds(300), now: t)
            )
            _ = try #require(try await store.claim(queues: ["q"], owner: "node-b/7", lease: .seconds(300), now: t))
            #expect(try await store.releaseLeases(ownerPrefix: "node-a/") == 1)
            let again = try #require(
                try await store.claim(queues: ["q"], owner: "node-a/42", lease: .seconds(300), now: t)
            )
            #expect(again.id == mine.id && again.attempts == 2)
        }
    }

    @Test(arguments: Backend.allCases)
    func aJobIsNotClaimedBeforeItsTime(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let later = Date().addingTimeInterval(3600)
            var d = draft(1)
            d.notBefore = later
            _ = try await store.enqueue([d], recording: [])
            #expect(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(5), now: now) == nil)
            #expect(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(5), now: later + 1) != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentWorkersNeverTakeTheSameJob(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let ids = try await store.enqueue((0..<300).map { draft($0) }, recording: []).map(\.id)
            let t = now
            let all = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for w in 0..<8 {
                    group.addTask {
                        var mine: [Int64] = []
                        while let job = try await store.claim(
                            queues: ["q"],
                            owner: "w\(w)",
                            lease: .seconds(60),
                            now: t
                        ) {
                            mine.append(job.id)
                            #expect(try await store.complete(job.lease, result: [:], now: t))
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(all.count == ids.count, "every job once")
            #expect(Set(all) == Set(ids))
        }
    }

    @Test(arguments: Backend.allCases)
    func aWaitingWorkerWakesWhenAJobArrives(_ backend: Backend) async throws {
        try await withStore(backend) { store, place in
            // Let the listener connect first (PostgreSQL): with no job yet, only its ring once it
            // listens ends this wait (SQLite: the time does), so the next wait can be woken by
            // nothing but the enqueue.
            await store.waitForJobs(timeout: backend == .postgres ? .seconds(30) : .milliseconds(100))
            let waiter = Task {
                let start = ContinuousClock.now
                await store.waitForJobs(timeout: .seconds(60))
                return ContinuousClock.now - start
            }
            try await Task.sleep(for: .milliseconds(100))
            // On PostgreSQL the job comes through another connection pool, as from another
            // process: only the notification can wake the waiter (a store rings its own waiters
            // itself). SQLite wakes the waiters of its own store.
            let producer: any FullStore = backend == .postgres ? try await place.open() : store
            _ = try await producer.enqueue([draft(1)], recording: [])
            // Woken by the enqueue, not by the minute running out.
            #expect(await waiter.value < .seconds(50))
            if backend == .postgres { try await producer.close() }
        }
    }

    /// A job that arrives while the worker is busy looking for one must not wait for the
    /// worker's next timeout: the ring is kept for the next wait.
    @Test(arguments: Backend.allCases)
    func aJobThatArrivesWhileNobodyWaitsIsNotMissed(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            await store.waitForJobs(timeout: .milliseconds(300))
            _ = try await store.enqueue([draft(1)], recording: [])
            let start = ContinuousClock.now
            await store.waitForJobs(timeout: .seconds(60))
            #expect(ContinuousClock.now - start < .seconds(50))
        }
    }

    @Test(arguments: Backend.allCases)
    func runsAreSavedListedAndFound(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let a = RunRecord(
                id: "run-1",
                workflow: "triage",
                status: "running",
                created: t0,
                updated: t0,
                data: ["steps": [:]]
            )
            let b = RunRecord(
                id: "run-2",
                workflow: "backup",
                status: "succeeded",
                created: t0 + 10,
                updated: t0 + 20,
                data: ["x": 1]
            )
            try await store.saveRun(a)
            try await store.saveRun(b)
            var a2 = a
            a2.status = "waiting"
            a2.updated = t0 + 30
            a2.data = ["steps": ["ask": ["status": "waiting"]]]
            try await store.saveRun(a2)
            #expect(try await store.run(id: "run-1") == a2)
            #expect(try await store.runs(statuses: nil, workflow: nil, limit: 10).map(\.id) == ["run-2", "run-1"])
            #expect(try await store.runs(statuses: ["waiting"], workflow: nil, limit: 10).map(\.id) == ["run-1"])
            #expect(try await store.runs(statuses: nil, workflow: "backup", limit: 10).map(\.id) == ["run-2"])
            #expect(try await store.run(id: "nope") == nil)
        }
    }

    /// Retention: what ended before the cutoff goes (its keys with it), what is queued, leased,
    /// running or waiting stays however old.
    @Test(arguments: Backend.allCases)
    func jobsAndRunsThatEndedLongAgoAreDeletedAndNothingElse(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let t = now
            let ids = try await store.enqueue(
                [draft(1, key: "done-key"), draft(2, max: 1), draft(3), draft(4)],
                recording: []
            ).map(\.id)
            let done = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t))
            #expect(try await store.complete(done.lease, result: [:], now: t))
            let dead = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t))
            #expect(try await store.fail(dead.lease, error: "no", retryAt: nil, now: t))
            _ = try #require(try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: t))
            // Before the cutoff nothing that ended after it goes.
            #expect(try await store.deleteEndedJobs(before: t - 60) == 0)
            #expect(try await store.deleteEndedJobs(before: t + 3600) == 2)
            let left = try await store.jobs(states: nil, queue: nil, limit: 10)
            #expect(Set(left.map(\.id)) == [ids[2], ids[3]])
            #expect(Set(left.map(\.state)) == [.leased, .queued])
            // The key went with its job: the same delivery now is a new job.
            #expect(try await store.enqueue([draft(5, key: "done-key")], recording: [])[0].added)

            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            for (id, status) in [("old-ok", "succeeded"), ("old-bad", "failed"), ("old-wait", "waiting")] {
                try await store.saveRun(
                    RunRecord(id: id, workflow: "w", status: status, created: t0, updated: t0, data: [:])
                )
            }
            try await store.saveRun(
                RunRecord(id: "new-ok", workflow: "w", status: "succeeded", created: t0, updated: t0 + 100, data: [:])
            )
            #expect(try await store.deleteEndedRuns(before: t0 + 50) == 2)
            #expect(
                Set(try await store.runs(statuses: nil, workflow: nil, limit: 10).map(\.id)) == ["old-wait", "new-ok"]
            )
        }
    }
}
