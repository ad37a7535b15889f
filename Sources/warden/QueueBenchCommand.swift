import ArgumentParser
import Foundation
import Logging
import WardenCore
import WardenFlow
import WardenHTTP
import WardenPostgres
import WardenStore

/// For `bench/pipeline`: the workflow engine's throughput on either store, in one process, with
/// the same harness for both. Not for operators (hidden).
struct QueueBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue-bench",
        abstract: "Measure empty workflows per second on SQLite or PostgreSQL (for bench/pipeline).",
        shouldDisplay: false
    )

    @Option(help: "postgres://USER@HOST:PORT/DATABASE (the jobs and runs of node queue-bench).") var database: String?
    @Option(help: "A SQLite file to create instead.") var sqlite: String?
    @Option(help: "How many runs.") var jobs: Int = 2000
    @Option(help: "Workers (flow.workers).") var workers: Int = 64
    @Option(help: "Tasks enqueueing at once, one job per transaction each.") var senders: Int = 16

    func run() async throws {
        let store: any JobStore & RunStore & Store
        switch (database, sqlite) {
        case (let url?, nil):
            guard case .success(let parsed) = PostgresURL.parse(url) else {
                printError("warden queue-bench: --database is not a postgres:// URL")
                throw ExitCode(1)
            }
            store = try await PostgresStore.open(
                parsed.configuration(parsed.hosts[0], password: nil),
                node: "queue-bench"
            )
        case (nil, let path?):
            store = try SQLiteStore(path: path)
        default:
            printError("warden queue-bench: give --database or --sqlite")
            throw ExitCode(1)
        }
        let workflow = WorkflowSpec(
            name: "empty",
            triggers: [.event(type: "bench.empty", subject: nil)],
            steps: [StepSpec(name: "record", action: .store(.record(["id": "{{event.payload.id}}"])))]
        )
        let bus = EventBus()
        var logger = Logger(label: "warden.queue-bench")
        logger.logLevel = .warning
        let engine = WorkflowEngine(
            .init(
                flow: FlowSpec(workflows: ["empty": workflow], workers: workers),
                store: store,
                bus: bus,
                transport: AsyncHTTPTransport.shared,
                services: nil,
                samples: nil,
                directory: NSTemporaryDirectory(),
                logger: logger
            )
        )
        let finished = bus.subscribe(name: "bench", capacity: jobs * 4) { $0.type == "workflow.finished" }
        let worker = Task { try? await WorkflowWorker(engine: engine, logger: logger).run() }
        let (n, senders) = (jobs, max(1, senders))
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<senders {
                group.addTask {
                    for i in stride(from: s, to: n, by: senders) {
                        let event = Event(
                            id: Int64(i + 1),
                            time: Date(),
                            type: "bench.empty",
                            source: "hook:bench",
                            subject: "bench",
                            payload: ["id": .int(Int64(i))]
                        )
                        _ = try await store.enqueue(engine.drafts(for: event), recording: [event])
                    }
                }
            }
            try await group.waitForAll()
        }
        let enqueued = ContinuousClock.now - start
        var done = 0
        while done < n {
            let batch = await finished.nextBatch(max: 1000)
            if batch.isEmpty { break }
            done += batch.count
        }
        let all = ContinuousClock.now - start
        worker.cancel()
        _ = await worker.value
        try await store.close()
        let result: JSONValue = [
            "store": .string(database == nil ? "sqlite" : "postgres"), "jobs": .int(Int64(n)),
            "enqueued_per_s": .double((Double(n) / enqueued.seconds).rounded()),
            "jobs_per_s": .double((Double(done) / all.seconds).rounded()),
        ]
        print(result.jsonText)
    }
}
