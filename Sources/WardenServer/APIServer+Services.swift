import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenSupervisor

extension APIServer {
    func addServiceRoutes(_ router: Router<APIContext>) {
        let supervisor = dependencies.supervisor
        router.get("/v1/services") { _, context -> Response in
            _ = try context.require(.viewer)
            return try APIServer.json(["services": await supervisor.status()])
        }
        router.get("/v1/services/{name}") { _, context -> Response in
            _ = try context.require(.viewer)
            let name = try context.pathParameter("name")
            guard let status = await supervisor.status().first(where: { $0.name == name }) else {
                throw APIServer.unknownService(name, known: await supervisor.status().map(\.name))
            }
            return try APIServer.json(status)
        }
        for action in ["start", "stop", "restart"] {
            router.post("/v1/services/{name}/\(action)") { _, context -> Response in
                _ = try context.require(.operator, write: true)
                let name = try context.pathParameter("name")
                do {
                    switch action {
                    case "start": try await supervisor.start(name)
                    case "stop": try await supervisor.stop(name)
                    default: try await supervisor.restart(name)
                    }
                } catch let error as WardenError where error.code == .notFound {
                    throw APIServer.unknownService(name, known: await supervisor.status().map(\.name))
                }
                let status = await supervisor.status().first { $0.name == name }
                return try APIServer.json(status, status: .accepted)
            }
        }
    }

    static func unknownService(_ name: String, known: [String]) -> APIError {
        var message = "no service named '\(name)'"
        if let guess = DidYouMean.suggest(name, from: known) { message += "; did you mean '\(guess)'?" }
        return APIError(.notFound, "not_found", message, field: "name")
    }
}
