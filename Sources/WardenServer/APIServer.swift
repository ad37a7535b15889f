import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import WardenCore
import WardenDefense
import WardenFlow
import WardenGitOps
import WardenHeal
import WardenIdentity
import WardenSLO
import WardenStore
import WardenSupervisor

/// Warden's HTTP API (Hummingbird 2): services, events (with a live server-sent stream), telemetry
/// ingest in three formats, series queries, health and metrics, and its OpenAPI document.
///
/// Build it with ``APIServer/init(_:)`` and run ``application`` as a ServiceLifecycle service;
/// graceful shutdown stops accepting connections, ends event streams and drains requests.
public struct APIServer: Sendable {
    /// Everything the routes need.
    public struct Dependencies: Sendable {
        public var api: APISpec
        public var samples: SamplesSpec
        public var supervisor: Supervisor
        public var bus: EventBus
        public var store: any Store
        public var recorder: EventRecorder
        /// Where accepted samples go after they are committed (monitors subscribe here).
        public var sampleFeed: FanOut<SampleBatch>
        /// Reloads the spec from its file (the same as SIGHUP).
        public var reload: @Sendable () async -> ReloadOutcome
        public var clock: any WardenClock
        public var logger: Logger
        /// The healing engine, for the incident routes (nil: no such routes).
        public var heal: HealEngine?
        /// The ban manager, for the ban routes (nil: no defense, no such routes).
        public var bans: BanManager?
        /// Outbound HTTPS, for the OpenID providers of `api.oidc` (their keys, the sign-in's
        /// token exchange). Required when the spec has `api.oidc`.
        public var transport: (any HTTPTransport)?
        /// The spec's webhooks (`POST /v1/hooks/{name}`).
        public var hooks: [String: HookSpec] = [:]
        /// The SLO engine, for `GET /v1/slos` (nil: the spec has no SLOs).
        public var slos: SLOService?
        /// Alerts, silences and notifications (nil: the spec has no `alerting:`).
        public var alerting: AlertService?
        /// The workflow engine: runs started by published events and webhooks, `/v1/runs`
        /// (nil: the spec has no workflows).
        public var flow: WorkflowEngine?
        /// The node's spec from git (`/v1/gitops`; nil: the spec has no `gitops:`).
        public var gitops: GitOpsService?

        public init(
            api: APISpec,
            samples: SamplesSpec,
            supervisor: Supervisor,
            bus: EventBus,
            store: any Store,
            recorder: EventRecorder,
            sampleFeed: FanOut<SampleBatch>,
            reload: @escaping @Sendable () async -> ReloadOutcome,
            clock: any WardenClock = SystemClock(),
            logger: Logger
        ) {
            self.api = api
            self.samples = samples
            self.supervisor = supervisor
            self.bus = bus
            self.store = store
            self.recorder = recorder
            self.sampleFeed = sampleFeed
            self.reload = reload
            self.clock = clock
            self.logger = logger
        }
    }

    public let dependencies: Dependencies
    public let ingestAudit: IngestAudit
    public let authAudit: AuthAudit
    let metrics: APIMetrics
    /// ID token checks, when the spec has `api.oidc`.
    let oidc: OIDCVerifier?
    /// The dashboard's sign-ins, when the spec has `api.oidc.login`.
    let sessions: LoginSessions?
    /// Webhook deliveries already taken.
    let replays = ReplayGuard()

    public init(_ dependencies: Dependencies) {
        WardenMetrics.bootstrap()
        self.dependencies = dependencies
        self.ingestAudit = IngestAudit(bus: dependencies.bus)
        self.authAudit = AuthAudit(bus: dependencies.bus)
        self.metrics = APIMetrics()
        let transport = dependencies.transport ?? NoTransport()
        self.oidc = dependencies.api.oidc.map {
            OIDCVerifier(spec: $0, transport: transport, clock: dependencies.clock)
        }
        self.sessions = dependencies.api.oidc?.login == nil ? nil : LoginSessions(clock: dependencies.clock)
    }

    /// The router with every route and middleware.
    public func router() -> Router<APIContext> {
        let d = dependencies
        let router = Router(context: APIContext.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware())

        router.add(
            middleware: AuthMiddleware(
                tokens: d.api.tokens,
                anonymousRead: d.api.anonymousRead,
                failures: d.api.authFailures,
                audit: authAudit,
                clock: d.clock,
                oidc: oidc,
                sessions: sessions
            )
        )
        router.add(middleware: RateLimitMiddleware(rate: d.api.rate, burst: d.api.burst, clock: d.clock))
        router.add(middleware: AuditMiddleware(bus: d.bus, ingest: ingestAudit, auth: authAudit))
        addSystemRoutes(router)
        addServiceRoutes(router)
        addEventRoutes(router)
        addIngestRoutes(router)
        addSeriesRoutes(router)
        addIncidentRoutes(router)
        addBanRoutes(router)
        addLoginRoutes(router)
        addPublishRoutes(router)
        addRunRoutes(router)
        addAlertRoutes(router)
        addGitOpsRoutes(router)
        let slos = d.slos
        router.get("/v1/slos") { _, context -> Response in
            _ = try context.require(.viewer)
            return try APIServer.json(SLOList(slos: slos?.statuses ?? []))
        }
        return router
    }

    /// HTTP/1.1 with the spec's idle timeout; a connection the client closed is closed at once (so
    /// that its work is cancelled). Over TLS when the spec has `api.tls` (the pair is read now).
    public func httpServer() throws(WardenError) -> HTTPServerBuilder {
        let idle = TimeAmount.nanoseconds(dependencies.api.idleTimeout.nanoseconds)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ClientHangupHandler()],
            idleTimeout: idle
        )
        guard let tls = dependencies.api.tls else { return .http1(configuration: configuration) }
        let certificates = try TLSCertificates(cert: tls.cert, key: tls.key, logger: dependencies.logger)
        return .http1(configuration: configuration, tls: certificates)
    }

    /// The server as a Service, listening where the spec says.
    public func application() throws(WardenError) -> some ApplicationProtocol & Service {
        QuietApplication(
            responder: router().buildResponder(),
            server: try httpServer(),
            configuration: .init(
                address: .hostname(dependencies.api.host, port: dependencies.api.port),
                serverName: "warden"
            ),
            services: [AuditFlusher(ingest: ingestAudit, auth: authAudit)],
            logger: dependencies.logger
        )
    }

    // MARK: - Helpers shared by the routes

    package static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APICoding.encoder().encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    package static func text(_ text: String, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    /// Collects a request body, refusing one over the spec's limit with 413.
    func body(_ request: Request, limit: Int? = nil, limitKey: String = "api.max_body") async throws -> ByteBuffer {
        let limit = limit ?? dependencies.api.maxBody
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            _ = error
            throw APIError(
                .contentTooLarge,
                "too_large",
                "the body is larger than \(ByteSize.format(Int64(limit))) (\(limitKey))"
            )
        } catch is NIOTooManyBytesError {
            throw APIError(
                .contentTooLarge,
                "too_large",
                "the body is larger than \(ByteSize.format(Int64(limit))) (\(limitKey))"
            )
        }
    }
}

/// Publishes the summed audit tallies (ingest, failed authentication) every ten seconds and once
/// more at shutdown.
struct AuditFlusher: Service {
    let ingest: IngestAudit
    let auth: AuthAudit

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await SystemClock().sleep(for: .seconds(10)) }
            ingest.flush()
            auth.flush()
        }
        ingest.flush()
        auth.flush()
    }
}

/// The transport of a server built without one: every call fails, saying so.
struct NoTransport: HTTPTransport {
    func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        throw OutboundError("this server was built without outbound HTTP")
    }
}

/// `GET /v1/slos`.
struct SLOList: Encodable {
    var slos: [SLOStatus]
}
