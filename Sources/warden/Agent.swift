import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenDetect
import WardenHeal
import WardenServer
import WardenStore
import WardenSupervisor

/// The composition root: every long-running part of Warden, wired together.
///
/// Built in an order that fails fast, before anything is started: the state directory (and its
/// lock), port conflicts, then the store. Runs as one ServiceGroup; the recorder comes first so
/// that it shuts down last and records the other services' final events.
struct Agent {
    let group: ServiceGroup
    let stateDirectory: StateDirectory
    let store: SQLiteStore

    static func build(spec: Spec, logger: Logger) throws -> Agent {
        let stateDirectory = try StateDirectory(path: spec.stateDir)
        let running = Set(
            RuntimeRecords(directory: stateDirectory.runDirectory).loadAll().filter {
                ProcFS.isAlive(pid: $0.pid, startTime: $0.startTime)
            }.map(\.service)
        )
        var problems = PortCheck.conflicts(in: spec, skip: running).map(\.description)
        if let busy = PortCheck.listenProblem(host: spec.api.host, port: spec.api.port) {
            problems.append("api.listen: \(busy)")
        }
        if !problems.isEmpty {
            throw WardenError(.portInUse, problems.joined(separator: "\n") + "\nnothing was started")
        }
        // The local CLI authenticates with a token only readable by whoever can read the state
        // directory (mode 0600), like a control socket; it changes at every start.
        var apiSpec = spec.api
        let cliToken = try LocalToken.create(in: stateDirectory.runDirectory)
        apiSpec.tokens.append(
            TokenSpec(
                name: "local-cli",
                role: .admin,
                reference: "file:\(LocalToken.path(in: stateDirectory.runDirectory))",
                secret: cliToken
            )
        )
        WardenMetrics.bootstrap()
        let store = try SQLiteStore(path: stateDirectory.databasePath)
        let lastID = try store.lastEventIDSync()
        let bus = EventBus(firstID: lastID + 1)
        let recorder = EventRecorder(bus: bus, store: store, logger: logger)
        let supervisor = Supervisor(spec: spec, bus: bus, logger: logger)
        let sampleFeed = FanOut<SampleBatch>()
        let samples = SampleRecorder(source: supervisor.samples, store: store, feed: sampleFeed, logger: logger)
        let heal = HealEngine(
            .init(
                spec: spec,
                supervisor: supervisor,
                bus: bus,
                store: store,
                logger: logger,
                directory: (stateDirectory.path as NSString).appendingPathComponent("incidents")
            )
        )
        let reloader = ReloadOnHangup(
            path: spec.path,
            supervisor: supervisor,
            logger: logger,
            others: { await heal.apply($0) }
        )
        var apiDependencies = APIServer.Dependencies(
            api: apiSpec,
            samples: spec.samples,
            supervisor: supervisor,
            bus: bus,
            store: store,
            recorder: recorder,
            sampleFeed: sampleFeed,
            reload: { await reloader.reload() },
            logger: logger
        )
        apiDependencies.heal = heal
        let api = APIServer(apiDependencies)
        let monitors = try spec.monitors.map { monitor in
            try MonitorService(
                spec: monitor,
                feed: sampleFeed,
                bus: bus,
                states: store,
                record: { batch in try? await store.appendSamples(batch) },
                logger: logger
            )
        }
        bus.publish(
            EventType.wardenStarted,
            source: "warden",
            subject: "warden",
            payload: [
                "pid": .int(getpid()), "spec": .string(spec.path), "services": .int(spec.services.count),
                "api": .string("\(spec.api.host):\(spec.api.port)"),
            ]
        )
        // Started in this order, stopped in reverse: the API stops first, the recorders last.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: recorder),
                    .init(service: samples),
                    .init(service: supervisor),
                ] + monitors.map { .init(service: $0) } + [
                    .init(service: heal),

                    .init(service: reloader),
                    .init(service: RetentionService(store: store, keep: spec.retention.events, logger: logger)),
                    .init(service: SampleMaintenance(store: store, spec: spec.samples, logger: logger)),
                    .init(service: api.application()),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        return Agent(group: group, stateDirectory: stateDirectory, store: store)
    }

    func run() async throws {
        try await group.run()
        try await store.close()
    }
}
