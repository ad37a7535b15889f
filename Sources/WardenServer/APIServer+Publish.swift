import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenFlow
import WardenStore

extension APIServer {
    /// Events from outside: `POST /v1/events` for callers with a token (operator), and the spec's
    /// webhooks, `POST /v1/hooks/{name}`, each verified its own way. An answer of 2xx means the
    /// events are in the store.
    func addPublishRoutes(_ router: Router<APIContext>) {
        let d = dependencies
        router.post("/v1/events") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let buffer = try await self.body(request)
            guard case .object(let fields)? = JSONValue.parse(bytes: Array(buffer: buffer)) else {
                throw APIError.badRequest(
                    "the body must be a JSON object such as {\"type\": \"custom.disk_alarm\", \"subject\": \"db\", \"payload\": {}}"
                )
            }
            guard let type = fields["type"]?.stringValue else {
                throw APIError.badRequest("missing 'type' (the event type, such as custom.disk_alarm)", field: "type")
            }
            if let problem = PublishedType.problem(type) { throw APIError.badRequest(problem, field: "type") }
            guard let subject = fields["subject"]?.stringValue, !subject.isEmpty, subject.utf8.count <= 200 else {
                throw APIError.badRequest(
                    "expected 'subject': what the event is about, 1 to 200 bytes",
                    field: "subject"
                )
            }
            let payload = fields["payload"] ?? .object([:])
            guard payload.objectValue != nil else {
                throw APIError.badRequest("'payload' must be a JSON object", field: "payload")
            }
            for key in fields.keys where !["type", "subject", "payload"].contains(key) {
                throw APIError.badRequest(
                    "unknown field '\(key.prefix(50))'; expected type, subject, payload",
                    field: key
                )
            }
            let key = try APIServer.idempotencyKey(request)
            let event = d.bus.publish(type, source: "api:\(who.name)", subject: subject, payload: payload)
            let runs = try await self.record([event], key: key.map { "api:\(who.name):\($0)" })
            var answer: [String: JSONValue] = ["id": .int(event.id)]
            if !runs.isEmpty { answer["runs"] = .array(runs.map { .string($0) }) }
            return try APIServer.json(JSONValue.object(answer), status: .created)
        }

        router.post("/v1/hooks/{name}") { request, context -> Response in
            let name = try context.pathParameter("name")
            guard let hook = d.hooks[name] else { throw APIError.notFound("there is no hook '\(name.prefix(64))'") }
            let body = Array(
                buffer: try await self.body(request, limit: hook.maxBody, limitKey: "hooks.\(name).max_body")
            )
            let header = { (field: String) -> String? in HTTPField.Name(field).flatMap { request.headers[$0] } }
            let now = d.clock.wallTime().timeIntervalSince1970
            let replayKey: String?
            switch HookVerifier.verify(hook.verify, header: header, body: body, now: now) {
            case .refused(let why):
                throw APIError(.unauthorized, "hook_unverified", "the delivery is not verified: \(why)")
            case .verified(let key): replayKey = key
            }
            let drafts: [EventDraft]
            switch HookMapper.events(hook, body: body, header: header) {
            case .success(let e): drafts = e
            case .failure(let refusal): throw APIError.badRequest(refusal.message, field: refusal.field)
            }
            if let replayKey, !self.replays.firstTime("\(name) \(replayKey)", now: d.clock.now()) {
                return try APIServer.json(JSONValue.object(["duplicate": .bool(true), "events": .int(0)]))
            }
            // A delivery is known by the caller's Idempotency-Key, else by what verified it, else
            // by its body: the same delivery starts each workflow once.
            let delivery =
                try APIServer.idempotencyKey(request) ?? replayKey
                ?? SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
            let events = drafts.map { d.bus.publish($0) }
            let runs = try await self.record(events, key: "hook:\(name):\(delivery)")
            var answer: [String: JSONValue] = [
                "duplicate": .bool(false), "events": .int(Int64(events.count)),
                "ids": .array(events.map { .int($0.id) }),
            ]
            if !runs.isEmpty { answer["runs"] = .array(runs.map { .string($0) }) }
            return try APIServer.json(JSONValue.object(answer), status: .accepted)
        }
    }

    /// Makes published events durable before the answer: with the runs they start queued in
    /// the same transaction (the store's job queue), or, when they start none, by waiting for
    /// the recorder. Returns the ids of the runs queued (a redelivery's are those of the first).
    func record(_ events: [Event], key: String?) async throws -> [String] {
        guard let last = events.last else { return [] }
        if let flow = dependencies.flow {
            var drafts: [JobDraft] = []
            for (i, e) in events.enumerated() {
                drafts += flow.drafts(for: e, key: key.map { events.count == 1 ? $0 : "\($0)#\(i)" })
            }
            if !drafts.isEmpty {
                do {
                    let queued = try await flow.enqueue(drafts, recording: events)
                    return queued.map { WorkflowEngine.runID(job: $0.id) }
                } catch {
                    dependencies.logger.error("cannot queue runs", metadata: ["warden.error": "\(error)"])
                    throw APIError(.serviceUnavailable, "not_stored", "the event was not stored; send it again")
                }
            }
        }
        try await committed(last.id)
        return []
    }

    /// The `Idempotency-Key` header: 1 to 200 printable ASCII characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let name = HTTPField.Name("Idempotency-Key"), let key = request.headers[name] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 200, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw APIError.badRequest(
                "Idempotency-Key must be 1 to 200 printable ASCII characters",
                field: "Idempotency-Key"
            )
        }
        return key
    }

    /// Waits until the event `id` is in the store; 503 when it is not in time.
    func committed(_ id: Int64) async throws {
        await dependencies.recorder.waitUntilCommitted(id, timeout: .seconds(10))
        guard dependencies.recorder.committedID >= id else {
            throw APIError(.serviceUnavailable, "not_stored", "the event was not stored in time; send it again")
        }
    }
}
