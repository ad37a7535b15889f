import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import WardenCore
import WardenDefense
import WardenHTTP
import WardenHeal
import WardenServer
import WardenStore
import WardenSupervisor
import WardenTestSupport

/// The secrets of the test tokens (referenced from the spec through the environment).
enum Tokens {
    static let viewer = "viewer-secret-1234"
    static let `operator` = "operator-secret-5678"
    static let admin = "admin-secret-9abc"

    static func header(_ secret: String?) -> HTTPFields {
        guard let secret else { return [:] }
        return [.authorization: "Bearer \(secret)"]
    }
}

/// A Warden node for API tests: a spec with three tokens and one service, a real supervisor,
/// recorder and SQLite store, and the API router.
final class APINode: Sendable {
    /// The supervisor is not started here: the test application runs it as a service.
    let node: SupervisedNode
    let store: SQLiteStore
    let recorder: EventRecorder
    let heal: HealEngine
    let bans: BanManager
    let server: APIServer
    let port: Int

    var dir: TempDir { node.dir }
    var spec: Spec { node.spec }
    var bus: EventBus { node.bus }
    var supervisor: Supervisor { node.supervisor }

    /// `extraSpec` goes at the top level of the spec (policies, healing, notify…).
    init(
        extraAPI: String = "",
        extraSpec: String = "",
        services: String? = nil,
        clock: any WardenClock = SystemClock()
    ) throws {
        port = freePort()
        let yaml = """
            api:
              listen: 127.0.0.1:\(port)
              tokens:
                - { name: watcher, role: viewer, secret: "env:T_VIEWER" }
                - { name: ops, role: operator, secret: "env:T_OPERATOR" }
                - { name: root, role: admin, secret: "env:T_ADMIN" }
            \(extraAPI)
            \(extraSpec)
            services:
            \(services ?? "  svc:\n    run: [\(Binaries.sample)]")
            """
        var env = ProcessInfo.processInfo.environment
        env["T_VIEWER"] = Tokens.viewer
        env["T_OPERATOR"] = Tokens.operator
        env["T_ADMIN"] = Tokens.admin
        node = try SupervisedNode(
            yaml,
            prefix: "warden-api",
            environment: env,
            sections: [APISection.self, DefenseSection.self, HealingSection.self],
            logLevel: .error,
            supervise: false
        )
        let (spec, bus, logger, supervisor) = (node.spec, node.bus, node.logger, node.supervisor)
        let state = try StateDirectory(path: spec.stateDir)
        store = try SQLiteStore(path: state.databasePath)
        recorder = EventRecorder(bus: bus, store: store, logger: logger)
        heal = HealEngine(
            .init(
                spec: spec,
                services: supervisor,
                bus: bus,
                store: store,
                logger: logger,
                directory: node.dir.file("heal"),
                transport: AsyncHTTPTransport.shared
            )
        )
        // The ban routes over a dry-run firewall (the real ones run inside network namespaces in
        // the integration tests); 10.0.0.0/8 is allowlisted.
        bans = BanManager(
            spec: spec.defense ?? DefenseSpec(),
            firewall: DryRunFirewall(),
            store: store,
            safety: BanSafety(allow: [CIDR("10.0.0.0/8")!]),
            bus: bus,
            logger: logger
        )
        let reloader = ReloadOnHangup(path: node.path, supervisor: supervisor, loader: node.loader, logger: logger)
        var dependencies = APIServer.Dependencies(
            api: spec.api,
            samples: spec.samples,
            supervisor: supervisor,
            bus: bus,
            store: store,
            recorder: recorder,
            sampleFeed: FanOut<SampleBatch>(),
            reload: { await reloader.reload() },
            clock: clock,
            logger: logger
        )
        dependencies.heal = heal
        dependencies.bans = bans
        server = APIServer(dependencies)
        _ = state
    }

    /// Runs `body` against the router (HummingbirdTesting), with the supervisor and recorder
    /// running as the application's services.
    func test<T: Sendable>(
        _ setup: TestingSetup = .router,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let app = QuietApplication(
            responder: server.router().buildResponder(),
            server: try server.httpServer(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            services: [recorder, supervisor, heal],
            logger: Logger(label: "test-app")
        )
        return try await app.test(setup, body)
    }
}

extension TestResponse {
    /// The body as JSON.
    var json: JSONValue? { JSONValue.parse(String(buffer: body)) }
}
