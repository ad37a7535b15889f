import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

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
            let event = d.bus.publish(type, source: "api:\(who.name)", subject: subject, payload: payload)
            try await self.committed(event.id)
            return try APIServer.json(JSONValue.object(["id": .int(event.id)]), status: .created)
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
            let ids = drafts.map { d.bus.publish($0).id }
            if let last = ids.last { try await self.committed(last) }
            return try APIServer.json(
                JSONValue.object([
                    "duplicate": .bool(false), "events": .int(Int64(ids.count)), "ids": .array(ids.map { .int($0) }),
                ]),
                status: .accepted
            )
        }
    }

    /// Waits until the event `id` is in the store; 503 when it is not in time.
    func committed(_ id: Int64) async throws {
        await dependencies.recorder.waitUntilCommitted(id, timeout: .seconds(10))
        guard dependencies.recorder.committedID >= id else {
            throw APIError(.serviceUnavailable, "not_stored", "the event was not stored in time; send it again")
        }
    }
}
