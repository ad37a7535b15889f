import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore
import WardenHeal

extension APIServer {
    func addIncidentRoutes(_ router: Router<APIContext>) {
        guard let heal = dependencies.heal else { return }
        router.get("/v1/incidents") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            var statuses: [Incident.Status]?
            let texts = params.values("status").flatMap { $0.split(separator: ",").map(String.init) }
            if !texts.isEmpty {
                statuses = try texts.map { text in
                    guard let s = Incident.Status(rawValue: text) else {
                        throw APIError.badRequest(
                            "found '\(text)'; expected one of \(Incident.Status.allCases.map(\.rawValue).joined(separator: ", "))",
                            field: "status"
                        )
                    }
                    return s
                }
            }
            let limit = try APIServer.intParameter(params, "limit", default: 100, range: 1...10_000)
            let list = try await heal.incidents(statuses: statuses, limit: limit)
            return APIServer.jsonValue(["incidents": .array(list.map(\.summary))])
        }
        router.get("/v1/incidents/{id}") { _, context -> Response in
            _ = try context.require(.viewer)
            let id = try context.pathParameter("id")
            guard let inc = try await heal.incident(id) else { throw APIError.notFound("no incident '\(id)'") }
            return APIServer.jsonValue(inc.json)
        }
        for verb in ["approve", "cancel"] {
            router.post("/v1/incidents/{id}/\(verb)") { _, context -> Response in
                let who = try context.require(.operator, write: true)
                let id = try context.pathParameter("id")
                do {
                    let inc =
                        verb == "approve"
                        ? try await heal.approve(id, by: who.name) : try await heal.cancel(id, by: who.name)
                    return APIServer.jsonValue(inc.json)
                } catch let error as WardenError {
                    if error.code == .notFound { throw APIError.notFound(error.message) }
                    throw APIError(.conflict, "conflict", error.message, field: "id")
                }
            }
        }
    }

    static func jsonValue(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: value.jsonText))
        )
    }
}
