import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import WardenCore

/// Turns every mutating request into an `audit.*` event: who (token name, or why there was none),
/// what (the action and its subject), when, from where, and the result (HTTP status).
///
/// Two kinds of request are summed instead of recorded one by one, so that volume cannot flood
/// the audit trail: ingest (one `audit.ingest` event per caller every ten seconds: requests,
/// samples accepted and rejected) and requests refused for want of a valid token (one
/// `audit.auth.failed` event per address and period, see ``AuthAudit``).
public struct AuditMiddleware: RouterMiddleware {
    public typealias Context = APIContext

    let bus: EventBus
    let ingest: IngestAudit
    let auth: AuthAudit?

    public init(bus: EventBus, ingest: IngestAudit, auth: AuthAudit? = nil) {
        self.bus = bus
        self.ingest = ingest
        self.auth = auth
    }

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        guard request.method != .get, request.method != .head, request.method != .options else {
            return try await next(request, context)
        }
        let actor =
            context.identity?.name
            ?? (request.uri.path.hasPrefix("/v1/hooks/")
                ? "hook:\(request.uri.path.dropFirst(10).prefix(64))" : "unauthenticated")
        let (type, subject) = Self.action(request.uri.path)
        do {
            let response = try await next(request, context)
            record(
                type: type,
                subject: subject,
                actor: actor,
                request: request,
                context: context,
                status: response.status.code
            )
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(type: type, subject: subject, actor: actor, request: request, context: context, status: status)
            throw error
        }
    }

    private func record(
        type: String,
        subject: String,
        actor: String,
        request: Request,
        context: APIContext,
        status: Int
    ) {
        if let auth, context.identity == nil, status == 401 || status == 429 {
            // A wrong token was already counted by the authentication; a missing one is counted here.
            if context.authProblem == nil { auth.unauthenticated(AuthThrottle.key(context.remoteAddress)) }
            return
        }
        if type == EventType.auditIngest {
            ingest.count(actor: actor, status: status)
            return
        }
        let request = AuditRequest(
            actor: actor,
            method: request.method.rawValue,
            path: request.uri.path,
            status: status,
            remote: context.remoteAddress
        )
        bus.publish(type, source: "api", subject: subject, payload: request.json)
    }

    /// `/v1/services/api/restart` → (`audit.service.restart`, `api`).
    static func action(_ path: String) -> (String, String) {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.first == "v1", parts.count >= 2 else { return (EventType.auditRequest, path) }
        switch parts[1] {
        case "services" where parts.count == 4: return (EventType.auditService(parts[3]), parts[2])
        case "ingest": return (EventType.auditIngest, parts.count > 2 ? parts[2] : "json")
        case "hooks": return (EventType.auditIngest, parts.count > 2 ? "hook:\(parts[2])" : "hooks")
        case "reload": return (EventType.auditReload, "warden")
        case "incidents" where parts.count == 4: return (EventType.auditIncident(parts[3]), parts[2])
        case "bans" where parts.count == 2: return (EventType.auditBan, "bans")
        case "bans" where parts.count == 3: return (EventType.auditUnban, parts[2])
        default: return (EventType.auditRequest, path)
        }
    }
}

/// Sums ingest requests per caller and reports them as `audit.ingest` events.
public final class IngestAudit: Sendable {
    struct Tally: Sendable {
        var requests = 0
        var samples = 0
        var rejected = 0
        var statuses: [Int: Int] = [:]
    }

    private let tallies = Mutex<[String: Tally]>([:])
    let bus: EventBus

    public init(bus: EventBus) { self.bus = bus }

    func count(actor: String, status: Int) {
        tallies.withLock { t in
            t[actor, default: Tally()].requests += 1
            t[actor, default: Tally()].statuses[status, default: 0] += 1
        }
    }

    /// Adds what an ingest request stored.
    public func add(actor: String, samples: Int, rejected: Int) {
        tallies.withLock { t in
            t[actor, default: Tally()].samples += samples
            t[actor, default: Tally()].rejected += rejected
        }
    }

    /// Publishes and clears the tallies (called every ten seconds and at shutdown).
    public func flush() {
        let current = tallies.withLock { t -> [String: Tally] in
            defer { t = [:] }
            return t
        }
        for (actor, tally) in current.sorted(by: { $0.key < $1.key }) where tally.requests > 0 {
            let summary = IngestTally(
                actor: actor,
                requests: tally.requests,
                samples: tally.samples,
                rejected: tally.rejected,
                statuses: Dictionary(uniqueKeysWithValues: tally.statuses.map { (String($0.key), $0.value) })
            )
            bus.publish(summary, source: "api", subject: actor)
        }
    }
}
