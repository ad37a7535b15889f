import Foundation
import Synchronization
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@testable import WardenFlow

/// The way from an intake to the worker: a new job goes straight to a free place of this
/// process's worker, leased to it as it is queued; without one it waits in the queue. And the
/// run's saves behind it: in order, a failed one never passed over.
@Suite("Workflow handoff", .timeLimit(.minutes(2)))
struct WorkflowHandoffTests {
    @Test func aDeliveryGoesStraightToAFreeWorkerAndWaitsInTheQueueWhenNoneIsFree() async throws {
        let dir = TempDir("flow-handoff")
        let go = dir.file("go")
        let h = try FlowHarness(
            """
            flow: { workers: 2 }
            workflows:
              slow:
                on: [test.slow]
                steps:
                  hold: { exec: [sh, -c, "while [ ! -e GO ]; do sleep 0.02; done"], timeout: 60s }
            """.replacingOccurrences(of: "GO", with: go)
        )
        h.startWorker()
        try await eventually("the worker is up") { h.engine.handoff.isOpen }
        let pid = getpid()
        // The claiming loop holds one place while it waits for the queue; the other is free.
        let first = try await h.deliver("test.slow", subject: "1")[0]
        let firstJob = try #require(try await h.store.job(id: Self.jobID(first)))
        #expect(firstJob.state == .leased && firstJob.attempts == 1)
        #expect(firstJob.leaseOwner?.hasPrefix("\(pid)-h") == true, "leased as it was queued")
        let second = try await h.deliver("test.slow", subject: "2")[0]
        try await eventually("both run at once") {
            let a = try await h.run(first)?.steps["hold"]?.status
            let b = try await h.run(second)?.steps["hold"]?.status
            return a == .running && b == .running
        }
        // Both places taken: the third waits in the queue, unclaimed.
        let third = try await h.deliver("test.slow", subject: "3")[0]
        let waiting = try #require(try await h.store.job(id: Self.jobID(third)))
        #expect(waiting.state == .queued && waiting.attempts == 0 && waiting.leaseOwner == nil)
        FileManager.default.createFile(atPath: go, contents: nil)
        for id in [first, second, third] {
            #expect(try await h.settled(id).status == .succeeded)
        }
        #expect(try await h.store.job(id: Self.jobID(third))?.attempts == 1)
        // A stopped worker takes nothing: the delivery is queued for the next one.
        await h.stopWorkers()
        #expect(!h.engine.handoff.isOpen)
        let later = try await h.deliver("test.slow", subject: "4")[0]
        #expect(try await h.store.job(id: Self.jobID(later))?.state == .queued)
        h.startWorker()
        #expect(try await h.settled(later).status == .succeeded)
        await h.close()
    }

    @Test func placesAreTakenFromTheWorkerThatOpenedLastAndOnlyItClosesTheWay() async throws {
        let handoff = JobHandoff()
        #expect(handoff.reserve(1) == nil, "closed: nothing to reserve")
        let first = AsyncLimiter(limit: 2)
        let (firstJobs, firstToken) = handoff.open(room: first, owner: "a-", lease: .seconds(5))
        let second = AsyncLimiter(limit: 2)
        let (secondJobs, secondToken) = handoff.open(room: second, owner: "b-", lease: .seconds(5))
        // The first worker's stream ended when the second took over; its close leaves the second's open.
        var firstIterator = firstJobs.makeAsyncIterator()
        #expect(await firstIterator.next() == nil)
        handoff.close(firstToken)
        #expect(handoff.isOpen)
        // Three wanted, two free: two owners, both places of the second worker's room taken.
        let reservation = try #require(handoff.reserve(3))
        #expect(reservation.owners == ["b-1", "b-2"] && reservation.lease == .seconds(5))
        #expect(second.load.inUse == 2 && first.load.inUse == 0)
        #expect(handoff.reserve(1) == nil, "no room left")
        // One job leased: it reaches the worker, the unused place is given back.
        let job = Self.job(7, owner: "b-1")
        #expect(handoff.hand([job], reservation).isEmpty)
        #expect(second.load.inUse == 1)
        var secondIterator = secondJobs.makeAsyncIterator()
        #expect(await secondIterator.next()?.id == 7)
        // Closed between a reservation and its hand-over: the job comes back to the caller.
        let late = try #require(handoff.reserve(1))
        handoff.close(secondToken)
        #expect(!handoff.isOpen && handoff.reserve(1) == nil)
        #expect(handoff.hand([Self.job(8, owner: late.owners[0])], late).map(\.id) == [8])
        #expect(second.load.inUse == 1, "the late place is given back; job 7's is the worker's")
        let cancelled = AsyncLimiter(limit: 1)
        let (_, token) = handoff.open(room: cancelled, owner: "c-", lease: .seconds(5))
        handoff.cancel(try #require(handoff.reserve(1)))
        #expect(cancelled.load.inUse == 0)
        handoff.close(token)
    }

    static func job(_ id: Int64, owner: String) -> Job {
        Job(
            id: id,
            queue: "workflows",
            kind: "start",
            payload: [:],
            priority: 0,
            state: .leased,
            attempts: 1,
            maxAttempts: 10,
            key: nil,
            created: Date(),
            runAt: Date(),
            leaseOwner: owner,
            leaseUntil: Date(),
            finished: nil,
            error: nil,
            result: nil
        )
    }

    static func jobID(_ run: String) throws -> Int64 {
        try #require(Int64(run.dropFirst("run-".count)))
    }

    @Test func savesCommitInOrderAndAFailedSaveFailsTheNextWait() async throws {
        let t = Date(timeIntervalSince1970: 1_900_000_000)
        let run = RunState(id: "r", workflow: "w", trigger: .null, created: t, steps: ["a", "b"])
        // The first save is slow: the second, made at once after it, must still commit after it.
        let slow = RecordingRunStore(slowFirst: true, failAt: nil)
        let tracker = RunTracker(run, store: slow, clock: SystemClock())
        try await tracker.update(durable: false) { $0.steps["a"]?.status = .running }
        try await tracker.update(durable: false) { $0.steps["a"]?.status = .succeeded }
        try await tracker.update { $0.steps["b"]?.status = .running }
        #expect(slow.statuses("a") == ["running", "succeeded", "succeeded"])
        #expect(slow.statuses("b") == ["pending", "pending", "running"])

        // The second save fails: the change goes on, the third is not written, the next wait throws.
        let failing = RecordingRunStore(slowFirst: false, failAt: 2)
        let other = RunTracker(run, store: failing, clock: SystemClock())
        try await other.update(durable: false) { $0.steps["a"]?.status = .running }
        try await other.update(durable: false) { $0.steps["a"]?.status = .succeeded }
        try await other.update(durable: false) { $0.steps["b"]?.status = .running }
        await #expect(throws: RecordingRunStore.Refused.self) { try await other.flush() }
        await #expect(throws: RecordingRunStore.Refused.self) { try await other.finish(.succeeded, error: nil) }
        #expect(failing.statuses("a") == ["running"])
    }
}

/// Runs kept in memory, each save recorded; optionally the first save slow, or save number
/// `failAt` refused.
final class RecordingRunStore: RunStore {
    struct Refused: Error {}
    let slowFirst: Bool
    let failAt: Int?
    let saves = Mutex<[RunRecord]>([])
    let attempts = Mutex(0)

    init(slowFirst: Bool, failAt: Int?) {
        self.slowFirst = slowFirst
        self.failAt = failAt
    }

    func saveRun(_ run: RunRecord) async throws {
        let n = attempts.withLock { n in
            n += 1
            return n
        }
        if slowFirst && n == 1 { try await Task.sleep(for: .milliseconds(100)) }
        if n == failAt { throw Refused() }
        saves.withLock { $0.append(run) }
    }

    /// Step `name`'s status in each save, in the order they were written.
    func statuses(_ name: String) -> [String] {
        saves.withLock { $0.map { $0.data["steps"]?[name]?["status"]?.stringValue ?? "?" } }
    }

    func runs(statuses: [String]?, workflow: String?, limit: Int) async throws -> [RunRecord] { [] }
    func run(id: String) async throws -> RunRecord? { saves.withLock { $0.last { $0.id == id } } }
    func deleteEndedRuns(before cutoff: Date) async throws -> Int { 0 }
}
