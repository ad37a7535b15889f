import Foundation
import Logging
import Synchronization
import Testing
import WardenCore
import WardenFlow
import WardenHTTP
import WardenStore
import WardenTestSupport

/// A workflow engine over a real SQLite file, with its worker (and the triggers of internal
/// events) running, loading its workflows from YAML as `warden run` does. `CHAT` in the YAML
/// becomes the URL of the test's model server.
final class FlowHarness: Sendable {
    let dir = TempDir("warden-flow")
    let store: SQLiteStore
    let bus = EventBus()
    let log: EventLog
    let engine: WorkflowEngine
    let tasks = Mutex<[Task<Void, Never>]>([])

    init(_ yaml: String, chat: FakeChatServer? = nil) throws {
        let text = yaml.replacingOccurrences(of: "CHAT", with: chat?.url ?? "http://127.0.0.1:9/v1")
        let spec = try SpecLoader(environment: [:], sections: [FlowSection.self]).parse(
            "state_dir: \(dir.path)\n" + text,
            file: "warden.yaml",
            baseDir: dir.path
        )
        store = try SQLiteStore(path: dir.file("warden.db"))
        log = EventLog(bus.subscribe(name: "test"))
        let store = self.store
        engine = WorkflowEngine(
            .init(
                flow: spec.flow,
                store: store,
                bus: bus,
                transport: AsyncHTTPTransport.shared,
                services: nil,
                samples: { try await store.appendSamples($0) },
                directory: dir.file("runs"),
                logger: Logger(label: "test")
            )
        )
    }

    /// Starts a worker (another one each call, as a restarted Warden would).
    func startWorker() {
        let engine = engine
        // Subscribed now, so that what the test publishes next is seen.
        let triggers = WorkflowTriggers(engine: engine, bus: bus, logger: Logger(label: "test"))
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await WorkflowWorker(engine: engine, logger: Logger(label: "test")).run() }
                group.addTask {
                    await withTaskCancellationHandler {
                        try? await triggers.run()
                    } onCancel: {
                        triggers.stop()
                    }
                }
            }
        }
        tasks.withLock { $0.append(task) }
    }

    /// Stops the workers (their runs in flight are interrupted, to resume).
    func stopWorkers() async {
        let all = tasks.withLock { t in
            defer { t = [] }
            return t
        }
        for t in all { t.cancel() }
        for t in all { await t.value }
    }

    func close() async {
        await stopWorkers()
        try? await store.close()
    }

    /// Publishes an event from a webhook and queues the runs it starts, as the API does (a
    /// running worker with room takes them at once); returns their ids.
    @discardableResult
    func deliver(_ type: String, subject: String, payload: JSONValue = [:], key: String? = nil) async throws -> [String]
    {
        let event = bus.publish(type, source: "hook:test", subject: subject, payload: payload)
        let jobs = try await engine.enqueue(engine.drafts(for: event, key: key), recording: [event])
        return jobs.map { WorkflowEngine.runID(job: $0.id) }
    }

    /// Waits until run `id` has ended (or waits for someone), and returns it.
    func settled(
        _ id: String,
        _ type: String = "workflow.finished",
        timeout: Duration = .seconds(60)
    ) async throws -> RunState {
        try await eventually("\(id) \(type)", timeout: timeout) {
            log.events(type).contains { $0.payload["run"]?.stringValue == id }
        }
        return try #require(try await run(id))
    }

    func run(_ id: String) async throws -> RunState? {
        try await store.run(id: id).flatMap(RunState.init)
    }
}
