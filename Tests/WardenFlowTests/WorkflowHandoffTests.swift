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
