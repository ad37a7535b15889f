import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenStore

extension APIServer {
    func addSeriesRoutes(_ router: Router<APIContext>) {
        let d = dependencies
        router.get("/v1/series") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let limit = try APIServer.intParameter(params, "limit", default: 1000, range: 1...10_000)
            let prefix = params.value("prefix")
            let store = d.store
            let list = try await bounded(context, timeout: d.api.queryTimeout) {
                try await store.series(prefix: prefix, limit: limit)
            }
            return try APIServer.json(["series": list.map(SeriesSummary.init)])
        }
        addQuantileRoute(router)
        router.get("/v1/series/{name}") { request, context -> Response in
            _ = try context.require(.viewer)
            let (query, steps) = try APIServer.seriesQuery(
                name: try context.pathParameter("name"),
                request.uri.queryParameters,
                now: d.clock.wallTime(),
                maxSeries: d.api.maxQuerySeries,
                maxPoints: d.api.maxQueryPoints
            )
            let store = d.store
            do {
                let results = try await bounded(context, timeout: d.api.queryTimeout) { try await store.query(query) }
                return try APIServer.seriesAnswer(query, results)
            } catch let limit as SeriesQueryLimit {
                throw APIServer.tooManySeries(limit, steps: steps, maxSeries: d.api.maxQuerySeries)
            }
        }
    }

    /// `GET /v1/series/{name}/quantile?q=0.95`: the quantile per step of the histogram `name`
    /// (its `name_bucket` series, summed over their labels other than `le`, or only those with
    /// the `label=` filters).
    func addQuantileRoute(_ router: Router<APIContext>) {
        let d = dependencies
        router.get("/v1/series/{name}/quantile") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            guard let text = params.value("q"), let q = Double(text), q.isFinite, (0...1).contains(q) else {
                throw APIError.badRequest("give the quantile as q=0.95 (from 0 to 1)", field: "q")
            }
            let name = try context.pathParameter("name")
            guard SampleRules.isValidSeriesName(name + "_bucket") else {
                throw APIError.badRequest("'\(name.prefix(200))' is not a valid histogram name", field: "name")
            }
            var (asked, steps) = try APIServer.seriesQuery(
                name: name + "_bucket",
                params,
                now: d.clock.wallTime(),
                maxSeries: d.api.maxQuerySeries,
                maxPoints: d.api.maxQueryPoints
            )
            let from = asked.from
            // One step more before the range: the baseline of the first step's increase.
            asked.from = from.addingTimeInterval(-asked.step.seconds)
            let query = asked
            let store = d.store
            let results: [SeriesResult]
            do {
                results = try await bounded(context, timeout: d.api.queryTimeout) { try await store.query(query) }
            } catch let limit as SeriesQueryLimit {
                throw APIServer.tooManySeries(limit, steps: steps, maxSeries: d.api.maxQuerySeries)
            }
            let points = HistogramQuantile.perStep(q, results: results, from: from)
            return APIServer.jsonValue([
                "name": .string(name),
                "q": .double(q),
                "step_seconds": .double(query.step.seconds),
                "buckets": .int(Int64(Set(results.compactMap { $0.key.labelDictionary["le"] }).count)),
                "points": .array(
                    points.map { p in
                        .object([
                            "start": .string(ISOTime.format(p.start)),
                            "count": .double(p.count),
                            "value": p.value.map { .double($0) } ?? .null,
                        ])
                    }
                ),
            ])
        }
    }

    /// The query of a request for series `name` (`since`, `until`, `step`, `label=NAME=VALUE`),
    /// and how many steps it spans; at most `maxSeries` series and `maxPoints` points in all.
    package static func seriesQuery(
        name: String,
        _ params: Parameters,
        now: Date,
        maxSeries: Int,
        maxPoints: Int
    ) throws -> (SeriesQuery, steps: Int) {
        guard SampleRules.isValidSeriesName(name) else {
            throw APIError.badRequest("'\(name.prefix(200))' is not a valid series name", field: "name")
        }
        let to = try APIServer.time(params, "until", now: now) ?? now
        let from = try APIServer.time(params, "since", now: now) ?? to.addingTimeInterval(-3600)
        guard from < to else { throw APIError.badRequest("since must be before until", field: "since") }
        // About 300 steps; from a minute up, whole minutes (answered from the 1-minute rollups).
        var seconds = max(1, Int64((to.timeIntervalSince(from) / 300).rounded(.up)))
        if seconds >= 60 { seconds = (seconds + 59) / 60 * 60 }
        var step = Duration.seconds(seconds)
        if let text = params.value("step") {
            guard let s = DurationFormat.parse(text), s >= .milliseconds(1) else {
                throw APIError.badRequest(
                    "found '\(text.prefix(40))'; expected a duration such as 10s or 1m",
                    field: "step"
                )
            }
            step = s
        }
        let steps = Int((to.timeIntervalSince(from) / step.seconds).rounded(.up))
        guard steps <= 100_000 else {
            throw APIError.badRequest("the range holds more than 100000 steps; use a larger step", field: "step")
        }
        var labels: [String: String] = [:]
        for pair in params.values("label") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, SampleRules.isValidLabelName(kv[0]) else {
                throw APIError.badRequest("found '\(pair.prefix(200))'; expected label=NAME=VALUE", field: "label")
            }
            labels[kv[0]] = kv[1]
        }
        // At most max_query_series series, and no more than max_query_points points in all.
        let most = min(maxSeries, max(1, maxPoints / max(1, steps)))
        return (SeriesQuery(name: name, labels: labels, from: from, to: to, step: step, maxSeries: most), steps)
    }

    /// The answer to a series request.
    package static func seriesAnswer(_ query: SeriesQuery, _ results: [SeriesResult]) throws -> Response {
        try APIServer.json(
            SeriesAnswer(
                name: query.name,
                from: query.from,
                to: query.to,
                stepSeconds: query.step.seconds,
                series: results.map { SeriesPoints(labels: $0.key.labelDictionary, points: $0.buckets) }
            )
        )
    }

    /// The 400 of a query that matches more series than it may read.
    package static func tooManySeries(_ limit: SeriesQueryLimit, steps: Int, maxSeries: Int) -> APIError {
        APIError(
            .badRequest,
            "too_many_series",
            "more than \(limit.limit) series match at \(steps) steps each (api.max_query_series, api.max_query_points); filter by label, shorten the range or raise the step",
            field: limit.limit < maxSeries ? "step" : "label"
        )
    }
}

package struct SeriesSummary: Encodable {
    var name: String
    var labels: [String: String]
    var lastTime: Date?
    var lastValue: Double?

    package init(_ info: SeriesInfo) {
        name = info.key.name
        labels = info.key.labelDictionary
        lastTime = info.lastTime
        lastValue = info.lastValue
    }

    enum CodingKeys: String, CodingKey {
        case name, labels
        case lastTime = "last_time"
        case lastValue = "last_value"
    }
}

struct SeriesAnswer: Encodable {
    var name: String
    var from: Date
    var to: Date
    var stepSeconds: Double
    var series: [SeriesPoints]

    enum CodingKeys: String, CodingKey {
        case name, from, to, series
        case stepSeconds = "step_seconds"
    }
}

struct SeriesPoints: Encodable {
    var labels: [String: String]
    var points: [SeriesBucket]
}
