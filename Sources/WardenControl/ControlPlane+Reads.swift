import Foundation
import Hummingbird
import NIOCore
import WardenCore
import WardenFleet
import WardenPostgres
import WardenServer
import WardenStore

/// The fleet as people read it: every node, one node's services, incidents and bans, its events
/// and its telemetry, and the page that shows them.
extension ControlPlane {
    func addReadRoutes(_ router: Router<APIContext>) {
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .init("Content-Security-Policy")!:
                        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.fleet_html))
            )
        }
        router.get("/v1/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.control_openapi_yaml))
            )
        }
        router.get("/v1/nodes") { _, context -> Response in
            _ = try context.require(.viewer)
            let now = clock.wallTime()
            let (nodes, counts) = try await stored { store in
                (try await store.nodes(), try await store.counts(now: now))
            }
            return try APIServer.json([
                "nodes": nodes.map { NodeListing(node: $0, counts: counts[$0.name] ?? NodeCounts()) }
            ])
        }
        router.get("/v1/nodes/{node}") { _, context -> Response in
            _ = try context.require(.viewer)
            let name = try context.pathParameter("node")
            guard FleetNames.isValid(name) else {
                throw APIError.badRequest("'\(name.prefix(80))' is not a valid node name", field: "node")
            }
            let now = clock.wallTime()
            let (node, state) = try await stored { store in
                (try await store.nodes().first { $0.name == name }, try await store.state(of: name, now: now))
            }
            guard let node else { throw APIError(.notFound, "not_found", "no node '\(name)' has called") }
            return try APIServer.json(NodeDetail(node: node, state: state))
        }
        router.get("/v1/fleet/events") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let node = try Self.node(params)
            var query = EventQuery()
            query.limit = try APIServer.intParameter(params, "limit", default: 100, range: 1...10_000)
            if let after = params["after"] {
                guard let id = Int64(after), id >= 0 else {
                    throw APIError.badRequest("found '\(after.prefix(40))'; expected an event id", field: "after")
                }
                query.afterID = id
            }
            if let order = params["order"] {
                guard order == "asc" || order == "desc" else {
                    throw APIError.badRequest("found '\(order.prefix(40))'; expected asc or desc", field: "order")
                }
                query.newestFirst = order == "desc"
            }
            if let subject = params["subject"] {
                guard subject.utf8.count <= 256 else {
                    throw APIError.badRequest("at most 256 bytes", field: "subject")
                }
                query.subject = String(subject)
            }
            query.types = params.getAll("type").map { String($0) }
            guard query.types.count <= 20, query.types.allSatisfy({ $0.utf8.count <= 256 }) else {
                throw APIError.badRequest("at most 20 types of at most 256 bytes", field: "type")
            }
            let events = try await stored { [query] in try await $0.events(matching: query, node: node) }
            return try APIServer.json(["events": events])
        }
        router.get("/v1/fleet/series") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let node = try Self.node(params)
            let limit = try APIServer.intParameter(params, "limit", default: 1000, range: 1...10_000)
            let prefix = params["prefix"].map(String.init)
            let list = try await stored { try await $0.series(prefix: prefix, limit: limit, node: node) }
            return try APIServer.json(["series": list.map(SeriesSummary.init)])
        }
        router.get("/v1/fleet/series/{name}") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let node = try Self.node(params)
            let (query, steps) = try APIServer.seriesQuery(
                name: try context.pathParameter("name"),
                params,
                now: clock.wallTime(),
                maxSeries: settings.maxQuerySeries,
                maxPoints: settings.maxQueryPoints
            )
            do {
                let results = try await stored { try await $0.query(query, node: node) }
                return try APIServer.seriesAnswer(query, results)
            } catch let limit as SeriesQueryLimit {
                throw APIServer.tooManySeries(limit, steps: steps, maxSeries: settings.maxQuerySeries)
            }
        }
    }

    /// The `node` query parameter, which every fleet read of one node needs.
    static func node(_ params: Parameters) throws -> String {
        guard let node = params["node"].map(String.init), FleetNames.isValid(node) else {
            throw APIError.badRequest("give the node: ?node=NAME", field: "node")
        }
        return node
    }
}

/// A node in the fleet's list: what it is, and how its services, incidents and bans stand.
struct NodeListing: Encodable {
    var node: NodeRecord
    var counts: NodeCounts

    func encode(to encoder: any Encoder) throws {
        try node.encode(to: encoder)
        try counts.encode(to: encoder)
    }
}

/// One node: what it is, its services, its open incidents and its bans in force.
struct NodeDetail: Encodable {
    var node: NodeRecord
    var state: NodeState

    func encode(to encoder: any Encoder) throws {
        try node.encode(to: encoder)
        try state.encode(to: encoder)
    }
}
