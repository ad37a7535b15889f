import Foundation
import Logging
import ServiceLifecycle
import WardenCore
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
        let conflicts = PortCheck.conflicts(in: spec, skip: running)
        if !conflicts.isEmpty {
            throw WardenError(
                .portInUse,
                conflicts.map(\.description).joined(separator: "\n") + "\nnothing was started"
            )
        }
        let store = try SQLiteStore(path: stateDirectory.databasePath)
        let lastID = try blockingLastID(store)
        let bus = EventBus(firstID: lastID + 1)
        let recorder = EventRecorder(bus: bus, store: store, logger: logger)
        let supervisor = Supervisor(spec: spec, bus: bus, logger: logger)
        let control = ControlServer(
            path: stateDirectory.controlSocket,
            supervisor: supervisor,
            store: store,
            logger: logger
        )
        let reloader = ReloadOnHangup(path: spec.path, supervisor: supervisor, logger: logger)
        let retention = RetentionService(store: store, keep: spec.retention.events, logger: logger)
        bus.publish(
            EventType.wardenStarted,
            source: "warden",
            subject: "warden",
            payload: ["pid": .int(getpid()), "spec": .string(spec.path), "services": .int(spec.services.count)]
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: recorder),
                    .init(service: supervisor),
                    .init(service: control),
                    .init(service: reloader),
                    .init(service: retention),
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

    private static func blockingLastID(_ store: SQLiteStore) throws -> Int64 {
        try store.lastEventIDSync()
    }
}
