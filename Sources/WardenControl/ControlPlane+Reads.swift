import Foundation
import HTTPTypes
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
        router.get("/") { _, _ in APIServer.page(PackageResources.fleet_html) }
        router.get("/ui.css") { _, _ in APIServer.styleSheet() }
        router.get("/v1/openapi.yaml") { _, _ in APIServer.document(PackageResources.control_openapi_yaml) }
        // The control plane's own metrics: requests by route with their durations.
        router.get("/metrics") { _, context -> Response in
            _ = try context.require(.viewer)
            return APIServer.metricsText()
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
                (try await store.node(name), try await store.state(of: name, now: now))
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
            if let subject = params["subject"] { query.subject = try Self.text(subject, field: "subject") }
            query.types = try params.getAll("type").map { try Self.text($0, field: "type") }
            guard query.types.count <= 20 else { throw APIError.badRequest("at most 20 types", field: "type") }
            let events = try await stored { [query] in try await $0.events(matching: query, node: node) }
            return try APIServer.json(["events": events])
        }
        // A node's events as they arrive (server-sent events, resumable with Last-Event-ID): at
        // once when this replica stored them, within a second when another did.
        router.get("/v1/fleet/events/stream") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let node = try Self.node(params)
            let filter = try APIServer.eventFilter(params, now: clock.wallTime())
            _ = try filter.subject.map { try Self.text($0, field: "subject") }
            var resume: Int64?
            if let text = request.headers[HTTPField.Name("Last-Event-ID")!] ?? params["last_event_id"].map(String.init)
            {
                guard let id = Int64(text), id >= 0 else {
                    throw APIError.badRequest(
                        "found '\(text.prefix(40))'; Last-Event-ID is the id of the last event received",
                        field: "Last-Event-ID"
                    )
                }
                resume = id
            }
            guard let bell = followers.bell(for: node) else {
                throw APIError(.serviceUnavailable, "unavailable", "too many nodes are followed on this replica")
            }
            let start: Int64
            if let resume { start = resume } else { start = try await stored { try await $0.lastEventID(node: node) } }
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                var last = start
                var spoke = ContinuousClock.now
                while !Task.isCancelled && !bell.isClosed {
                    let seen = bell.version
                    // A node's ids become visible in order (its batches are shipped one after
                    // another), so everything up to the head read first is there to be read.
                    do {
                        let head = try await stored { try await $0.lastEventID(node: node) }
                        var query = filter
                        query.limit = 1000
                        while head > last {
                            query.afterID = last
                            query.beforeID = head + 1
                            let page = try await stored { [query] in try await $0.events(matching: query, node: node) }
                            for event in page { try await writer.write(APIServer.sse(event)) }
                            if page.count < query.limit {
                                last = head
                            } else if let id = page.last?.id {
                                last = id
                            }
                            spoke = ContinuousClock.now
                        }
                    } catch let error as APIError where error.status == .serviceUnavailable {
                        // The database is away: keep the stream, and look again.
                    }
                    if ContinuousClock.now - spoke >= .seconds(15) {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        spoke = ContinuousClock.now
                    }
                    await bell.wait(after: seen, timeout: .seconds(1))
                }
                try await writer.finish(nil)
            }
            return APIServer.eventStream(body)
        }
        router.get("/v1/fleet/series") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let node = try Self.node(params)
            let limit = try APIServer.intParameter(params, "limit", default: 1000, range: 1...10_000)
            let prefix = try params["prefix"].map { text -> String in
                guard text.utf8.count <= 200, text.isEmpty || SampleRules.isValidSeriesName(text + "x") else {
                    throw APIError.badRequest(
                        "found '\(text.prefix(80))'; expected the start of a series name",
                        field: "prefix"
                    )
                }
                return String(text)
            }
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
            for value in query.labels.values {
                _ = try Self.text(value, field: "label", max: SampleRules.maxLabelValue)
            }
            do {
                let results = try await stored { try await $0.query(query, node: node) }
                return try APIServer.seriesAnswer(query, results)
            } catch let limit as SeriesQueryLimit {
                throw APIServer.tooManySeries(limit, steps: steps, maxSeries: settings.maxQuerySeries)
            }
        }
    }

    /// A text parameter as the database can take it: no NUL byte, at most `max` bytes.
    static func text(_ value: some StringProtocol, field: String, max: Int = 256) throws -> String {
        guard value.utf8.count <= max, !value.utf8.contains(0) else {
            throw APIError.badRequest("at most \(max) bytes, without NUL", field: field)
        }
        return String(value)
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
