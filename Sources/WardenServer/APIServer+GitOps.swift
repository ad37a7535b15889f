import Hummingbird
import WardenCore
import WardenGitOps

extension APIServer {
    /// `/v1/gitops`: where the node stands against its repository; `/v1/gitops/sync` fetches
    /// and applies now; `/v1/gitops/diff` says what the branch's head would change.
    func addGitOpsRoutes(_ router: Router<APIContext>) {
        let gitops = dependencies.gitops
        @Sendable func service() throws -> GitOpsService {
            guard let gitops else {
                throw APIError(.notFound, "not_found", "the spec has no gitops: section (a repository to follow)")
            }
            return gitops
        }
        router.get("/v1/gitops") { _, context -> Response in
            _ = try context.require(.viewer)
            return APIServer.jsonValue(try await service().status())
        }
        router.get("/v1/gitops/diff") { _, context -> Response in
            // It fetches from the repository: an operator's request, not a viewer's.
            _ = try context.require(.operator)
            return APIServer.jsonValue(try await service().diff())
        }
        router.post("/v1/gitops/sync") { _, context -> Response in
            _ = try context.require(.operator, write: true)
            return APIServer.jsonValue(Self.json(try await service().sync(.manual)))
        }
    }

    static func json(_ outcome: GitOpsService.Outcome) -> JSONValue {
        switch outcome {
        case .applied(let commit): return ["outcome": "applied", "commit": .string(commit)]
        case .unchanged(let commit): return ["outcome": "unchanged", "commit": .string(commit)]
        case .refused(let commit, let reason):
            return ["outcome": "refused", "commit": .string(commit), "reason": .string(reason)]
        case .unreachable(let error): return ["outcome": "unreachable", "reason": .string(error)]
        case .waiting(let commit, let reason):
            return ["outcome": "waiting", "commit": .string(commit), "reason": .string(reason)]
        }
    }
}
