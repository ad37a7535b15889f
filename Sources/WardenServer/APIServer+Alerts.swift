import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore
import WardenSLO

extension APIServer {
    /// `GET /v1/alerts`, `GET|POST /v1/silences`, `DELETE /v1/silences/{id}` (with `alerting:`).
    func addAlertRoutes(_ router: Router<APIContext>) {
        let alerting = dependencies.alerting
        @Sendable func service() throws -> AlertService {
            guard let alerting else {
                throw APIError(.notFound, "not_found", "the spec has no alerting: section (receivers and routes)")
            }
            return alerting
        }
        router.get("/v1/alerts") { _, context -> Response in
            _ = try context.require(.viewer)
            let alerts = try service().alerts()
            return APIServer.jsonValue(["alerts": .array(alerts.map(Self.json))])
        }
        router.get("/v1/silences") { _, context -> Response in
            _ = try context.require(.viewer)
            let list = try service().silences()
            return APIServer.jsonValue(["silences": .array(list.map { Self.json($0.silence, state: $0.state) })])
        }
        router.post("/v1/silences") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let alerting = try service()
            let buffer = try await self.body(request)
            guard let body = JSONValue.parse(String(buffer: buffer)), case .object = body else {
                throw APIError.badRequest(
                    "the body must be a JSON object such as {\"matchers\": [\"service=api\"], \"for\": \"2h\", \"comment\": \"deploy\"}"
                )
            }
            guard let texts = body["matchers"]?.arrayValue, !texts.isEmpty, texts.count <= 32 else {
                throw APIError.badRequest("give 1 to 32 matchers such as \"service=api\"", field: "matchers")
            }
            var matchers: [LabelMatcher] = []
            for (i, item) in texts.enumerated() {
                guard let text = item.stringValue else {
                    throw APIError.badRequest("expected a string such as \"service=api\"", field: "matchers[\(i)]")
                }
                do { matchers.append(try LabelMatcher.parse(text)) } catch let error as AlertSpecError {
                    throw APIError.badRequest(error.message, field: "matchers[\(i)]")
                }
            }
            let now = self.dependencies.clock.wallTime()
            var startsAt: Date?
            if let text = body["starts_at"]?.stringValue {
                guard let date = ISOTime.parse(text) else {
                    throw APIError.badRequest(
                        "found '\(text.prefix(40))'; expected an RFC 3339 time",
                        field: "starts_at"
                    )
                }
                startsAt = date
            }
            let endsAt: Date
            if let text = body["ends_at"]?.stringValue {
                guard let date = ISOTime.parse(text) else {
                    throw APIError.badRequest("found '\(text.prefix(40))'; expected an RFC 3339 time", field: "ends_at")
                }
                endsAt = date
            } else if let text = body["for"]?.stringValue {
                guard let d = DurationFormat.parse(text), d >= .seconds(1), d <= .seconds(365 * 86400) else {
                    throw APIError.badRequest(
                        "found '\(text.prefix(40))'; expected a duration from 1s to 365d",
                        field: "for"
                    )
                }
                endsAt = (startsAt ?? now).addingTimeInterval(Double(d.milliseconds) / 1000)
            } else {
                throw APIError.badRequest("give how long (\"for\": \"2h\") or until when (\"ends_at\")", field: "for")
            }
            guard endsAt.timeIntervalSince(now) <= 365 * 86400 else {
                throw APIError.badRequest("a silence lasts at most 365 days", field: "ends_at")
            }
            guard let comment = body["comment"]?.stringValue, !comment.isEmpty, comment.count <= 1000 else {
                throw APIError.badRequest("say why, in 1 to 1000 characters", field: "comment")
            }
            do {
                let silence = try alerting.silence(
                    matchers: matchers,
                    startsAt: startsAt,
                    endsAt: endsAt,
                    createdBy: who.name,
                    comment: comment
                )
                return APIServer.jsonValue(Self.json(silence, state: silence.state(at: now)), status: .created)
            } catch let error as AlertSpecError {
                throw APIError.badRequest(error.message, field: "matchers")
            }
        }
        router.delete("/v1/silences/{id}") { _, context -> Response in
            let who = try context.require(.operator, write: true)
            let id = context.parameters.get("id") ?? ""
            let alerting = try service()
            guard alerting.expire(silence: id, by: who.name) else {
                throw APIError(.notFound, "not_found", "no silence '\(id.prefix(64))' in force")
            }
            return APIServer.jsonValue(["id": .string(id), "state": "expired"])
        }
    }

    static func json(_ a: AlertState) -> JSONValue {
        var object: [String: JSONValue] = [
            "fingerprint": .string(a.fingerprint),
            "state": .string(a.state),
            "labels": .object(a.alert.labels.mapValues { .string($0) }),
            "annotations": .object(a.alert.annotations.mapValues { .string($0) }),
            "starts_at": .string(ISOTime.format(a.alert.startsAt)),
            "silenced_by": .array(a.silencedBy.map { .string($0) }),
            "inhibited_by": .array(a.inhibitedBy.map { .string($0) }),
        ]
        if let end = a.alert.endsAt { object["ends_at"] = .string(ISOTime.format(end)) }
        return .object(object)
    }

    static func json(_ s: Silence, state: String) -> JSONValue {
        .object([
            "id": .string(s.id),
            "state": .string(state),
            "matchers": .array(s.matchers.map { .string($0.description) }),
            "starts_at": .string(ISOTime.format(s.startsAt)),
            "ends_at": .string(ISOTime.format(s.endsAt)),
            "created_by": .string(s.createdBy),
            "comment": .string(s.comment),
        ])
    }
}
