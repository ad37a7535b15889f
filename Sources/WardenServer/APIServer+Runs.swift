import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenFlow
import WardenStore

extension APIServer {
    /// Workflow runs: `GET /v1/workflows`, `GET /v1/runs`, `GET /v1/runs/{id}`, a run started by
    /// hand (`POST /v1/workflows/{name}/runs`), and a person's answer to an approval step
    /// (`POST /v1/runs/{id}/steps/{step}/approve` or `/reject`).
    func addRunRoutes(_ router: Router<APIContext>) {
        guard let flow = dependencies.flow else {
            // No workflows: the lists are empty (the dashboard asks without knowing).
            router.get("/v1/workflows") { _, context -> Response in
                _ = try context.require(.viewer)
                return APIServer.jsonValue(["workflows": [], "models": []])
            }
            router.get("/v1/runs") { _, context -> Response in
                _ = try context.require(.viewer)
                return APIServer.jsonValue(["runs": []])
            }
            return
        }
        router.get("/v1/workflows") { _, context -> Response in
            _ = try context.require(.viewer)
            let open = flow.models.breakers()
            let list: [JSONValue] = flow.flow.workflows.values.sorted { $0.name < $1.name }.map { w in
                [
                    "name": .string(w.name),
                    "steps": .array(
                        w.steps.map { s in
                            [
                                "name": .string(s.name), "kind": .string(s.action.kind),
                                "needs": .array(s.needs.map { .string($0) }),
                            ]
                        }
                    ),
                    "timeout_seconds": .double(w.timeout.seconds),
                ]
            }
            let models: [JSONValue] = flow.flow.models.values.sorted { $0.name < $1.name }.map { m in
                ["name": .string(m.name), "model": .string(m.model), "circuit_open": .bool(open[m.name] ?? false)]
            }
            return APIServer.jsonValue(["workflows": .array(list), "models": .array(models)])
        }
        router.get("/v1/runs") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let statuses = params.values("status").flatMap { $0.split(separator: ",").map(String.init) }
            let allowed = ["running", "waiting", "succeeded", "failed"]
            for s in statuses where !allowed.contains(s) {
                throw APIError.badRequest(
                    "found '\(s.prefix(40))'; expected one of \(allowed.joined(separator: ", "))",
                    field: "status"
                )
            }
            let workflow = params["workflow"].map(String.init)
            if let workflow, flow.flow.workflows[workflow] == nil {
                throw APIError.badRequest("there is no workflow '\(workflow.prefix(64))'", field: "workflow")
            }
            let limit = try APIServer.intParameter(params, "limit", default: 100, range: 1...10_000)
            let runs = try await flow.store.runs(
                statuses: statuses.isEmpty ? nil : statuses,
                workflow: workflow,
                limit: limit
            )
            return APIServer.jsonValue(["runs": .array(runs.map(Self.runSummary))])
        }
        router.get("/v1/runs/{id}") { _, context -> Response in
            _ = try context.require(.viewer)
            let id = try context.pathParameter("id")
            guard let run = try await flow.store.run(id: id) else {
                throw APIError.notFound("no run '\(id.prefix(64))'")
            }
            return APIServer.jsonValue(run.data)
        }
        router.post("/v1/workflows/{name}/runs") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let name = try context.pathParameter("name")
            guard flow.flow.workflows[name] != nil else {
                throw APIError.notFound("there is no workflow '\(name.prefix(64))'")
            }
            let buffer = try await self.body(request)
            let input: JSONValue
            if buffer.readableBytes == 0 {
                input = .object([:])
            } else {
                guard let parsed = JSONValue.parse(bytes: Array(buffer: buffer)), case .object = parsed else {
                    throw APIError.badRequest("the body must be a JSON object: the run's input", field: "body")
                }
                input = parsed
            }
            let key = try APIServer.idempotencyKey(request)
            let id = try await flow.start(
                name,
                input: input,
                by: "api:\(who.name)",
                key: key.map { "\(who.name):\($0)" }
            )
            return try APIServer.json(JSONValue.object(["run": .string(id)]), status: .accepted)
        }
        for verb in ["approve", "reject"] {
            router.post("/v1/runs/{id}/steps/{step}/\(verb)") { request, context -> Response in
                let who = try context.require(.operator, write: true)
                let id = try context.pathParameter("id")
                let step = try context.pathParameter("step")
                let buffer = try await self.body(request)
                var comment: String?
                if buffer.readableBytes > 0 {
                    guard case .object(let fields)? = JSONValue.parse(bytes: Array(buffer: buffer)) else {
                        throw APIError.badRequest(
                            "the body must be a JSON object such as {\"comment\": \"…\"}",
                            field: "body"
                        )
                    }
                    for k in fields.keys where k != "comment" {
                        throw APIError.badRequest("unknown field '\(k.prefix(50))'; expected comment", field: k)
                    }
                    if let c = fields["comment"] {
                        guard let text = c.stringValue, text.utf8.count <= 2000 else {
                            throw APIError.badRequest(
                                "'comment' must be a string of at most 2000 bytes",
                                field: "comment"
                            )
                        }
                        comment = text
                    }
                }
                guard try await flow.store.run(id: id) != nil else {
                    throw APIError.notFound("no run '\(id.prefix(64))'")
                }
                do {
                    let run = try await flow.approve(
                        run: id,
                        step: step,
                        approved: verb == "approve",
                        by: who.name,
                        comment: comment
                    )
                    return APIServer.jsonValue(run.record.data)
                } catch let e as FlowFailure {
                    throw APIError(.conflict, "conflict", e.message, field: "step")
                }
            }
        }
    }

    /// A run in a list: its id, workflow, status, times, error and each step's status.
    public static func runSummary(_ r: RunRecord) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(r.id), "workflow": .string(r.workflow), "status": .string(r.status),
            "created": .string(ISOTime.format(r.created)), "updated": .string(ISOTime.format(r.updated)),
        ]
        if let finished = r.data["finished"] { o["finished"] = finished }
        if let error = r.data["error"] { o["error"] = error }
        if let steps = r.data["steps"]?.objectValue {
            o["steps"] = .object(steps.mapValues { $0["status"] ?? .null })
        }
        return .object(o)
    }
}
