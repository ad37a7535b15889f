import HTTPTypes
import Hummingbird

/// Answers 405 with an Allow header, instead of 404, when the path exists but not for this method.
public struct MethodNotAllowedMiddleware: RouterMiddleware {
    public typealias Context = APIContext

    /// Path templates (`{x}` matches one segment) and their methods.
    static let routes: [(path: [Substring], methods: [HTTPRequest.Method])] = [
        ("/", [.get]), ("/healthz", [.get]), ("/readyz", [.get]), ("/metrics", [.get]), ("/v1/openapi.yaml", [.get]),
        ("/v1/reload", [.post]),
        ("/v1/services", [.get]), ("/v1/services/{}", [.get]), ("/v1/services/{}/start", [.post]),
        ("/v1/services/{}/stop", [.post]), ("/v1/services/{}/restart", [.post]), ("/v1/events", [.get]),
        ("/v1/events/stream", [.get]), ("/v1/ingest", [.post]), ("/v1/ingest/prometheus", [.post]),
        ("/v1/ingest/influx", [.post]), ("/v1/series", [.get]), ("/v1/series/{}", [.get]), ("/v1/incidents", [.get]),
        ("/v1/incidents/{}", [.get]), ("/v1/incidents/{}/approve", [.post]), ("/v1/incidents/{}/cancel", [.post]),
        ("/v1/bans", [.get, .post]), ("/v1/bans/{}", [.delete]),
    ].map { ($0.0.split(separator: "/"), $0.1) }

    public init() {}

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let parts = request.uri.path.split(separator: "/")
            let allowed = Self.routes.filter { route in
                route.path.count == parts.count && zip(route.path, parts).allSatisfy { $0 == "{}" || $0 == $1 }
            }.flatMap(\.methods)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            throw APIError(
                .methodNotAllowed,
                "method_not_allowed",
                "\(request.method) is not allowed here; use \(allowed.map(\.rawValue).joined(separator: ", "))"
            )
            .with(header: .allow, allowed.map(\.rawValue).joined(separator: ", "))
        }
    }
}
