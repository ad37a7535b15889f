import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenDefense
import WardenDetect
import WardenFleet
import WardenFlow
import WardenGitOps
import WardenHTTP
import WardenHeal
import WardenSLO
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
        let store = try SQLiteStore(
            path: stateDirectory.databasePath,
            durability: spec.store.durability
        )
        let lastID = try store.lastEventIDSync()
        let bus = EventBus(firstID: lastID + 1)
        let recorder = EventRecorder(bus: bus, store: store, logger: logger)
        Self.auditSecretReads(spec, when: "start", bus: bus)
        let supervisor = Supervisor(
            spec: spec,
            bus: bus,
            logger: logger,
            options: .init(transport: AsyncHTTPTransport.shared)
        )
        let sampleFeed = FanOut<SampleBatch>()
        let samples = SampleRecorder(source: supervisor.samples, store: store, feed: sampleFeed, logger: logger)
        let heal = HealEngine(
            .init(
                spec: spec,
                services: supervisor,
                bus: bus,
                store: store,
                logger: logger,
                directory: (stateDirectory.path as NSString).appendingPathComponent("incidents"),
                transport: AsyncHTTPTransport.shared
            )
        )
        let flow =
            spec.flow.workflows.isEmpty
            ? nil
            : WorkflowEngine(
                .init(
                    flow: spec.flow,
                    store: store,
                    bus: bus,
                    transport: AsyncHTTPTransport.shared,
                    services: supervisor,
                    healer: heal,
                    samples: { batch in
                        try await store.appendSamples(batch)
                        sampleFeed.send(batch)
                    },
                    directory: (stateDirectory.path as NSString).appendingPathComponent("runs"),
                    logger: logger
                )
            )
        // What follows the spec besides the supervisor.
        let followers: @Sendable (Spec) async -> Void = { spec in
            Self.auditSecretReads(spec, when: "reload", bus: bus)
            await heal.apply(spec)
            if let flow {
                flow.apply(spec.flow)
            } else if !spec.flow.workflows.isEmpty {
                logger.warning("workflows were added: they run from the next start of Warden")
            }
        }
        // The uplink is made further down; the rollout gate asks it once it is there.
        let laterUplink = Late<Uplink>()
        let gitops = try spec.gitops.map { g in
            try Self.gitops(
                g,
                spec: spec,
                stateDirectory: stateDirectory,
                bus: bus,
                logger: logger,
                uplink: g.waves == nil ? nil : laterUplink
            ) { new in
                let summary = try await supervisor.reload(new)
                await followers(new)
                return summary
            } statuses: {
                await supervisor.status()
            }
        }
        let reloader = ReloadOnHangup(
            path: spec.path,
            supervisor: supervisor,
            loader: .warden(),
            logger: logger,
            others: followers,
            instead: gitops.map { gitops in
                { @Sendable in
                    // With a repository, SIGHUP and POST /v1/reload fetch and apply its head.
                    switch await gitops.sync(.manual) {
                    case .applied, .unchanged, .waiting: return .applied(.init())
                    case .refused(let commit, let reason): return .invalid(["commit \(commit): \(reason)"])
                    case .unreachable(let error): return .invalid(["the spec repository cannot be fetched: \(error)"])
                    }
                }
            }
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
        let defense = spec.defense.map {
            Self.defense($0, stateDirectory: stateDirectory, store: store, bus: bus, logger: logger)
        }
        apiDependencies.bans = defense?.bans
        apiDependencies.transport = AsyncHTTPTransport.shared
        apiDependencies.hooks = spec.hooks
        let slos =
            spec.slos.isEmpty
            ? nil
            : SLOService(
                slos: spec.slos,
                feed: sampleFeed,
                store: store,
                bus: bus,
                every: SLOService.evaluationInterval(spec.slos),
                logger: logger
            )
        apiDependencies.slos = slos
        let alerting = spec.alerting.map {
            AlertService(
                spec: $0,
                bus: bus,
                store: store,
                transport: AsyncHTTPTransport.shared,
                runner: { argv, input in await ChildProcess.capture(argv, input: input) },
                logger: logger
            )
        }
        apiDependencies.alerting = alerting
        apiDependencies.flow = flow
        apiDependencies.gitops = gitops
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
            WardenStarted(
                pid: Int64(getpid()),
                spec: spec.path,
                services: spec.services.count,
                api: "\(spec.api.host):\(spec.api.port)"
            ),
            source: "warden",
            subject: "warden"
        )
        // With a `fleet:` section, the node's event log is shipped to the control plane.
        let bans = defense?.bans
        let uplink = spec.fleet.map {
            Uplink(
                spec: $0,
                source: SQLiteUplinkSource(store: store),
                transport: AsyncHTTPTransport.shared,
                logger: logger,
                apply: { decisions in
                    guard let bans else { return }
                    await FleetBans.apply(decisions, to: bans)
                },
                onSamplesDropped: { dropped in
                    bus.publish(OutboxSamplesDropped(dropped: dropped), source: "fleet", subject: "outbox")
                }
            )
        }
        laterUplink.set(uplink)
        // Started in this order, stopped in reverse: the API stops first, then the recorders, and
        // the uplink last, so that its final shipment has every event up to warden.stopped.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = uplink.map { [.init(service: $0)] } ?? []
        if spec.audit.shipsAnywhere {
            services.append(.init(service: AuditShipper(store: store, spec: spec.audit, logger: logger)))
        }
        services += [.init(service: recorder), .init(service: samples), .init(service: supervisor)]
        // Under systemd (Type=notify): READY=1 once the services started, the watchdog fed.
        if ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil {
            services.append(
                .init(
                    service: SystemdNotifier(
                        supervisor: supervisor,
                        environment: ProcessInfo.processInfo.environment,
                        logger: logger
                    ),
                    successTerminationBehavior: .ignore
                )
            )
        }
        if spec.services.contains(where: { !$0.secretEnv.isEmpty }) {
            let watcher = SecretWatcher(
                supervisor: supervisor,
                vault: spec.vault?.session,
                environment: ProcessInfo.processInfo.environment,
                refresh: spec.vault?.spec.refresh ?? .seconds(60),
                bus: bus,
                logger: logger
            )
            services.append(.init(service: watcher))
        }
        services += monitors.map { .init(service: $0) }
        if let slos { services.append(.init(service: slos)) }
        if let alerting { services.append(.init(service: alerting)) }
        services.append(.init(service: heal))
        if let flow {
            services += [
                .init(service: WorkflowTriggers(engine: flow, bus: bus, recorded: store, logger: logger)),
                .init(service: WorkflowWorker(engine: flow, logger: logger)),
            ]
        }
        if let defense { services.append(.init(service: defense.service)) }
        if let gitops { services.append(.init(service: gitops)) }
        services += [
            .init(service: reloader),
            .init(
                service: RetentionService(
                    store: store,
                    keep: spec.retention.events,
                    outbox: uplink.map { uplink in
                        .init(shipped: { uplink.shipped }, limit: spec.fleet?.outbox ?? 0, bus: bus)
                    },
                    logger: logger
                )
            ),
            .init(service: SampleMaintenance(store: store, spec: spec.samples, logger: logger)),
        ]
        if let backup = spec.backup {
            services.append(.init(service: BackupService(spec: backup, database: store.path, bus: bus, logger: logger)))
        }
        services += [
            .init(service: try api.application())
        ]
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        return Agent(group: group, stateDirectory: stateDirectory, store: store)
    }

    /// The defense's parts: a firewall (dry-run, loudly, when the chosen one cannot work), the
    /// safety rules as they are at start, the ban manager and the watching service.
    /// One `audit.secret.read` record for each secret reference the spec read.
    static func auditSecretReads(_ spec: Spec, when: String, bus: EventBus) {
        for reference in spec.secretsRead {
            bus.publish(SecretRead(reference: reference, when: when), source: "warden", subject: reference)
        }
    }

    static func defense(
        _ spec: DefenseSpec,
        stateDirectory: StateDirectory,
        store: SQLiteStore,
        bus: EventBus,
        logger: Logger
    ) -> (bans: BanManager, service: DefenseService) {
        let runner: CommandRunner = { argv, input in await ChildProcess.capture(argv, input: input) }
        var firewall: any Firewall = DryRunFirewall()
        do {
            switch spec.firewall {
            case .nftables: firewall = try NFTablesFirewall(table: spec.table, runner: runner)
            case .iptables: firewall = try IPSetFirewall(prefix: spec.table, runner: runner)
            case .dryRun: break
            }
        } catch {
            BanManager.reportFailure(error, firewall: spec.firewall.rawValue, bus: bus, logger: logger)
        }
        let safety = BanSafety(
            allow: spec.allow,
            own: BanSafety.ownAddresses(),
            sshPeers: BanSafety.sshPeers(ports: spec.sshPorts, in: ConnectionTable.read())
        )
        let bans = BanManager(spec: spec, firewall: firewall, store: store, safety: safety, bus: bus, logger: logger)
        let service = DefenseService(
            .init(
                spec: spec,
                bans: bans,
                bus: bus,
                logger: logger,
                directory: (stateDirectory.path as NSString).appendingPathComponent("defense"),
                spawn: ChildProcess.streaming,
                transport: AsyncHTTPTransport.shared
            )
        )
        return (bans, service)
    }

    func run() async throws {
        try await group.run()
        try await store.close()
    }
}
